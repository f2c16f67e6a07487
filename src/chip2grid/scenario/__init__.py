"""The scenario file: one pydantic schema that every interface uses, and its evaluation."""

"""The industry, year by year: supply layers against training and inference demand."""

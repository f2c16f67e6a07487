"""The best configuration under SLOs and constraints, and fleets under power caps."""

"""Which runner runs the job, and what the launcher must settle before handing it over."""

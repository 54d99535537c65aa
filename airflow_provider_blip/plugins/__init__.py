"""The Blip page of the Airflow UI: a FastAPI app, its menu entries and the tasks' links to it."""

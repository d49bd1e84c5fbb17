-- Create the Cohort Intelligence databases next to Airflow's metadata database.
--
-- The postgres image runs this script as POSTGRES_USER, so that user owns both
-- databases. The image runs scripts in /docker-entrypoint-initdb.d only when the
-- data volume is empty. To run it again, remove the volume with
-- `docker compose down --volumes`, which also deletes all data in it.

-- Raw orders loaded from the source files.
CREATE DATABASE cohortintel_source;

-- Cohort tables and forecasts built from the source database.
CREATE DATABASE cohortintel_warehouse;

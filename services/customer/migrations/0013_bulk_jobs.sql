-- Bulk jobs (BulkJobService): an uploaded file's rows, each checked, then written once.
CREATE TABLE bulk_jobs (
  msp_id            text NOT NULL,
  job_id            text NOT NULL,
  kind              smallint NOT NULL,
  state             smallint NOT NULL,
  file_name         text NOT NULL,
  creator           text NOT NULL,
  row_count         integer NOT NULL,
  invalid_row_count integer NOT NULL,
  rows_created      integer NOT NULL DEFAULT 0,
  rows_failed       integer NOT NULL DEFAULT 0,
  create_time       timestamptz NOT NULL DEFAULT now(),
  start_time        timestamptz,
  end_time          timestamptz,
  -- The replica running the job, until when; an expired lease is free for any replica. A runner
  -- gives the job up after each batch (lease_until = now()): runners take the job run least
  -- recently first, so that every running job moves.
  lease_owner       text,
  lease_until       timestamptz,
  PRIMARY KEY (msp_id, job_id)
);
-- The runners' claim: running jobs, the one run least recently first.
CREATE INDEX bulk_jobs_running ON bulk_jobs (lease_until NULLS FIRST, start_time)
  WHERE state IN (2, 3);

CREATE TABLE bulk_job_rows (
  msp_id      text NOT NULL,
  job_id      text NOT NULL,
  row_number  integer NOT NULL,
  line        integer NOT NULL,
  -- The row's CreateCustomerRequest (serialized); the dry run's problems, a "field<TAB>reason" line each.
  request     bytea NOT NULL,
  problems    text,
  -- NULL until written: CREATED, FAILED, INVALID, CANCELLED (the domain's RowOutcome).
  outcome     smallint,
  customer_id text,
  error_field text,
  error       text,
  PRIMARY KEY (msp_id, job_id, row_number)
);
-- A runner's next batch: the job's rows without an outcome, in order.
CREATE INDEX bulk_job_rows_pending ON bulk_job_rows (msp_id, job_id, row_number)
  WHERE outcome IS NULL;

CREATE OR REPLACE TABLE user_cart AS
SELECT
  *
  REPLACE (CAST(event_timestamp AS TIMESTAMPTZ) AS event_timestamp)
FROM (
  /* One row per add-to-cart click; real-time clicks arrive by `fsql push user_cart`. */
  SELECT
    CAST(user_id AS BIGINT) AS user_id,
    CAST(added_ts AS TIMESTAMP) AS event_timestamp,
    CAST(quantity AS BIGINT) AS quantity
  FROM READ_CSV('data/cart_events.csv') AS cart_events
) AS __fsql_model;

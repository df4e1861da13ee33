CREATE OR REPLACE TABLE user_features AS
SELECT
  *
  REPLACE (CAST(event_timestamp AS TIMESTAMPTZ) AS event_timestamp, CAST(created_timestamp AS TIMESTAMPTZ) AS created_timestamp, CAST(user_lifetime_value AS DOUBLE) AS user_lifetime_value, CAST(user_order_days AS BIGINT) AS user_order_days)
FROM (
  /* Running purchase totals per user, built from the daily buckets of user_daily_orders */
  /* (stamped at day end): a row at the end of every day with orders. The sliding-window */
  /* counts live in user_orders, exact at any time rather than at day ends. */
  SELECT
    user_id,
    event_timestamp,
    event_timestamp /* When the row became available: the daily job runs a little after midnight, and */ /* with `visible_at: created_timestamp` a training row sees the day only from then on. */ + INTERVAL '1' MINUTE AS created_timestamp,
    ROUND(
      SUM(daily_spend) OVER (
        PARTITION BY user_id
        ORDER BY event_timestamp
        rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
      ),
      2
    ) AS user_lifetime_value,
    CAST(COUNT(*) OVER (
      PARTITION BY user_id
      ORDER BY event_timestamp
      rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
    ) AS BIGINT) AS user_order_days
  FROM user_daily_orders
) AS __fsql_model;

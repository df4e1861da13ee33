SELECT
  user_id,
  __fsql_keys.__fsql_latest.__event_ts,
  __fsql_keys.__fsql_latest.__created_ts,
  __fsql_keys.__fsql_latest.amount,
  __fsql_keys.__fsql_latest.__version
FROM (
  SELECT
    user_id,
    ARG_MAX(
      {'__event_ts': event_timestamp, '__created_ts': CAST(NULL AS TIMESTAMPTZ), 'amount': amount, '__version': CAST(HASH(amount) >> 1 AS BIGINT)},
      {'t': event_timestamp, 'c': CAST('-infinity' AS TIMESTAMPTZ), 'v': CAST(HASH(amount) >> 1 AS BIGINT)}
    ) AS __fsql_latest
  FROM user_orders
  WHERE
    NOT user_id IS NULL AND NOT event_timestamp IS NULL AND event_timestamp <= $end
  GROUP BY
    user_id
) AS __fsql_keys
ORDER BY
  user_id;

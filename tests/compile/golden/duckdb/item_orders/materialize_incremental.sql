SELECT
  item_id,
  __fsql_keys.__fsql_latest.__event_ts,
  __fsql_keys.__fsql_latest.__created_ts,
  __fsql_keys.__fsql_latest.user_id,
  __fsql_keys.__fsql_latest.__version
FROM (
  SELECT
    item_id,
    ARG_MAX(
      {'__event_ts': event_timestamp, '__created_ts': CAST(NULL AS TIMESTAMPTZ), 'user_id': user_id, '__version': CAST(HASH(user_id) >> 1 AS BIGINT)},
      {'t': event_timestamp, 'c': CAST('-infinity' AS TIMESTAMPTZ), 'v': CAST(HASH(user_id) >> 1 AS BIGINT)}
    ) AS __fsql_latest
  FROM item_orders
  WHERE
    (
      NOT item_id IS NULL AND NOT event_timestamp IS NULL AND event_timestamp <= $end
    )
    AND event_timestamp >= $start
  GROUP BY
    item_id
) AS __fsql_keys
ORDER BY
  item_id;

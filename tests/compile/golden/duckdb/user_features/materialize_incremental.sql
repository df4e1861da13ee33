SELECT
  user_id,
  __fsql_keys.__fsql_latest.__event_ts,
  __fsql_keys.__fsql_latest.__created_ts,
  __fsql_keys.__fsql_latest.user_lifetime_value,
  __fsql_keys.__fsql_latest.user_order_days,
  __fsql_keys.__fsql_latest.__version
FROM (
  SELECT
    user_id,
    ARG_MAX(
      {'__event_ts': event_timestamp, '__created_ts': created_timestamp, 'user_lifetime_value': user_lifetime_value, 'user_order_days': user_order_days, '__version': CAST(HASH(user_lifetime_value, user_order_days) >> 1 AS BIGINT)},
      {'t': event_timestamp, 'c': COALESCE(created_timestamp, CAST('-infinity' AS TIMESTAMPTZ)), 'v': CAST(HASH(user_lifetime_value, user_order_days) >> 1 AS BIGINT)}
    ) AS __fsql_latest
  FROM user_features
  WHERE
    (
      (
        NOT user_id IS NULL AND NOT event_timestamp IS NULL AND event_timestamp <= $end
      )
      AND (
        created_timestamp IS NULL OR created_timestamp <= $end
      )
    )
    AND (
      created_timestamp >= $start OR created_timestamp IS NULL
    )
  GROUP BY
    user_id
) AS __fsql_keys
ORDER BY
  user_id;

SELECT
  user_id,
  event_timestamp AS __event_ts,
  created_timestamp AS __created_ts,
  user_lifetime_value,
  user_order_days,
  BITSHIFTRIGHT(HASH(user_lifetime_value, user_order_days), 1) AS __version
FROM user_features
WHERE
  (
    NOT user_id IS NULL AND NOT event_timestamp IS NULL AND event_timestamp <= :end
  )
  AND (
    created_timestamp IS NULL OR created_timestamp <= :end
  )
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY user_id
    ORDER BY event_timestamp DESC NULLS LAST, created_timestamp DESC NULLS LAST, BITSHIFTRIGHT(HASH(user_lifetime_value, user_order_days), 1) DESC NULLS LAST
  ) = 1
ORDER BY
  user_id;

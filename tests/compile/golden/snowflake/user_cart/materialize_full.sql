SELECT
  user_id,
  event_timestamp AS __event_ts,
  CAST(NULL AS TIMESTAMPTZ) AS __created_ts,
  quantity,
  BITSHIFTRIGHT(HASH(quantity), 1) AS __version
FROM user_cart
WHERE
  NOT user_id IS NULL AND NOT event_timestamp IS NULL AND event_timestamp <= :end
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY user_id
    ORDER BY event_timestamp DESC NULLS LAST, BITSHIFTRIGHT(HASH(quantity), 1) DESC NULLS LAST
  ) = 1
ORDER BY
  user_id;

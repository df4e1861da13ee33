SELECT
  item_id,
  event_timestamp AS __event_ts,
  CAST(NULL AS TIMESTAMPTZ) AS __created_ts,
  user_id,
  BITSHIFTRIGHT(HASH(user_id), 1) AS __version
FROM item_orders
WHERE
  NOT item_id IS NULL AND NOT event_timestamp IS NULL AND event_timestamp <= :end
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY item_id
    ORDER BY event_timestamp DESC NULLS LAST, BITSHIFTRIGHT(HASH(user_id), 1) DESC NULLS LAST
  ) = 1
ORDER BY
  item_id;

SELECT
  item_id,
  event_timestamp AS __event_ts,
  CAST(NULL AS TIMESTAMPTZ) AS __created_ts,
  item_avg_rating,
  item_review_count,
  item_category,
  BITSHIFTRIGHT(HASH(item_avg_rating, item_review_count, item_category), 1) AS __version
FROM item_features
WHERE
  NOT item_id IS NULL AND NOT event_timestamp IS NULL AND event_timestamp <= :end
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY item_id
    ORDER BY event_timestamp DESC NULLS LAST, BITSHIFTRIGHT(HASH(item_avg_rating, item_review_count, item_category), 1) DESC NULLS LAST
  ) = 1
ORDER BY
  item_id;

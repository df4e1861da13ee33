WITH __fsql_v0 AS (
  SELECT
    user_id,
    event_timestamp AS __fsql_feature_ts,
    {'t': event_timestamp, 'c': COALESCE(created_timestamp, CAST('-infinity' AS TIMESTAMPTZ))} AS __fsql_order,
    user_30d_purchase_count,
    user_lifetime_value
  FROM user_features
  WHERE
    NOT event_timestamp IS NULL
    AND event_timestamp <= (
      SELECT
        MAX(__fsql_ts)
      FROM __fsql_entities
    )
    AND event_timestamp >= (
      SELECT
        MIN(__fsql_ts)
      FROM __fsql_entities
    ) - INTERVAL 315360000 SECOND
), __fsql_v1 AS (
  SELECT
    item_id,
    event_timestamp AS __fsql_feature_ts,
    item_avg_rating,
    item_review_count,
    item_category
  FROM item_features
  WHERE
    NOT event_timestamp IS NULL
    AND event_timestamp <= (
      SELECT
        MAX(__fsql_ts)
      FROM __fsql_entities
    )
)
SELECT
  e.__fsql_row,
  CASE
    WHEN __fsql_v0.__fsql_feature_ts >= e.__fsql_ts - INTERVAL 315360000 SECOND
    THEN __fsql_v0.user_30d_purchase_count
  END AS user_30d_purchase_count,
  CASE
    WHEN __fsql_v0.__fsql_feature_ts >= e.__fsql_ts - INTERVAL 315360000 SECOND
    THEN __fsql_v0.user_lifetime_value
  END AS user_lifetime_value,
  __fsql_v1.item_avg_rating AS item_avg_rating,
  __fsql_v1.item_review_count AS item_review_count,
  __fsql_v1.item_category AS item_category
FROM __fsql_entities AS e
ASOF LEFT JOIN __fsql_v0 AS __fsql_v0
  ON e.user_id = __fsql_v0.user_id
  AND {'t': e.__fsql_ts, 'c': CAST('infinity' AS TIMESTAMPTZ)} >= __fsql_v0.__fsql_order
ASOF LEFT JOIN __fsql_v1 AS __fsql_v1
  ON e.item_id = __fsql_v1.item_id AND e.__fsql_ts >= __fsql_v1.__fsql_feature_ts
ORDER BY
  e.__fsql_row

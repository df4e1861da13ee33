WITH __fsql_k0 AS (
  SELECT
    user_id,
    MAX(__fsql_ts) AS __fsql_hi,
    MIN(__fsql_ts) AS __fsql_lo
  FROM __fsql_entities
  GROUP BY
    user_id
), __fsql_v0 AS (
  SELECT
    f.user_id,
    f.event_timestamp AS __fsql_feature_ts,
    f.user_30d_purchase_count,
    f.user_lifetime_value
  FROM user_features AS f
  INNER JOIN __fsql_k0
    ON f.user_id = __fsql_k0.user_id
  WHERE
    f.event_timestamp <= __fsql_k0.__fsql_hi
    AND f.event_timestamp >= __fsql_k0.__fsql_lo - INTERVAL '315360000 SECOND'
  QUALIFY
    ROW_NUMBER() OVER (
      PARTITION BY f.user_id, f.event_timestamp
      ORDER BY f.created_timestamp DESC NULLS LAST, BITSHIFTRIGHT(HASH(f.user_30d_purchase_count, f.user_lifetime_value, f.user_order_days), 1) DESC NULLS LAST
    ) = 1
), __fsql_s0 AS (
  SELECT
    user_id,
    CAST(__fsql_ts AS TIMESTAMPTZ) AS __fsql_at,
    CAST(NULL AS TIMESTAMPTZ) AS __fsql_feature_ts,
    CAST(__fsql_row AS BIGINT) AS __fsql_row,
    1 AS __fsql_is_entity
  FROM __fsql_entities
  WHERE
    NOT user_id IS NULL AND NOT __fsql_ts IS NULL
  UNION ALL
  SELECT
    user_id,
    CAST(__fsql_feature_ts AS TIMESTAMPTZ) AS __fsql_at,
    CAST(__fsql_feature_ts AS TIMESTAMPTZ) AS __fsql_feature_ts,
    CAST(NULL AS BIGINT) AS __fsql_row,
    0 AS __fsql_is_entity
  FROM __fsql_v0
), __fsql_m0 AS (
  SELECT
    __fsql_row,
    __fsql_match
  FROM (
    SELECT
      __fsql_row,
      __fsql_is_entity,
      MAX(__fsql_feature_ts) OVER (
        PARTITION BY user_id
        ORDER BY __fsql_at ASC NULLS FIRST, __fsql_is_entity ASC NULLS FIRST
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
      ) AS __fsql_match
    FROM __fsql_s0
  ) AS __fsql_w
  WHERE
    __fsql_is_entity = 1
), __fsql_k1 AS (
  SELECT
    item_id,
    MAX(__fsql_ts) AS __fsql_hi
  FROM __fsql_entities
  GROUP BY
    item_id
), __fsql_v1 AS (
  SELECT
    f.item_id,
    f.event_timestamp AS __fsql_feature_ts,
    f.item_avg_rating,
    f.item_review_count,
    f.item_category
  FROM item_features AS f
  INNER JOIN __fsql_k1
    ON f.item_id = __fsql_k1.item_id
  WHERE
    f.event_timestamp <= __fsql_k1.__fsql_hi
  QUALIFY
    ROW_NUMBER() OVER (
      PARTITION BY f.item_id, f.event_timestamp
      ORDER BY BITSHIFTRIGHT(HASH(f.item_avg_rating, f.item_review_count, f.item_category), 1) DESC NULLS LAST
    ) = 1
), __fsql_s1 AS (
  SELECT
    item_id,
    CAST(__fsql_ts AS TIMESTAMPTZ) AS __fsql_at,
    CAST(NULL AS TIMESTAMPTZ) AS __fsql_feature_ts,
    CAST(__fsql_row AS BIGINT) AS __fsql_row,
    1 AS __fsql_is_entity
  FROM __fsql_entities
  WHERE
    NOT item_id IS NULL AND NOT __fsql_ts IS NULL
  UNION ALL
  SELECT
    item_id,
    CAST(__fsql_feature_ts AS TIMESTAMPTZ) AS __fsql_at,
    CAST(__fsql_feature_ts AS TIMESTAMPTZ) AS __fsql_feature_ts,
    CAST(NULL AS BIGINT) AS __fsql_row,
    0 AS __fsql_is_entity
  FROM __fsql_v1
), __fsql_m1 AS (
  SELECT
    __fsql_row,
    __fsql_match
  FROM (
    SELECT
      __fsql_row,
      __fsql_is_entity,
      MAX(__fsql_feature_ts) OVER (
        PARTITION BY item_id
        ORDER BY __fsql_at ASC NULLS FIRST, __fsql_is_entity ASC NULLS FIRST
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
      ) AS __fsql_match
    FROM __fsql_s1
  ) AS __fsql_w
  WHERE
    __fsql_is_entity = 1
)
SELECT
  e.__fsql_row,
  CASE
    WHEN __fsql_v0.__fsql_feature_ts >= e.__fsql_ts - INTERVAL '315360000 SECOND'
    THEN __fsql_v0.user_30d_purchase_count
  END AS user_30d_purchase_count,
  CASE
    WHEN __fsql_v0.__fsql_feature_ts >= e.__fsql_ts - INTERVAL '315360000 SECOND'
    THEN __fsql_v0.user_lifetime_value
  END AS user_lifetime_value,
  __fsql_v1.item_avg_rating AS item_avg_rating,
  __fsql_v1.item_review_count AS item_review_count,
  __fsql_v1.item_category AS item_category
FROM __fsql_entities AS e
LEFT JOIN __fsql_m0 AS __fsql_m0
  ON __fsql_m0.__fsql_row = e.__fsql_row
LEFT JOIN __fsql_v0 AS __fsql_v0
  ON __fsql_v0.user_id = e.user_id
  AND __fsql_v0.__fsql_feature_ts = __fsql_m0.__fsql_match
LEFT JOIN __fsql_m1 AS __fsql_m1
  ON __fsql_m1.__fsql_row = e.__fsql_row
LEFT JOIN __fsql_v1 AS __fsql_v1
  ON __fsql_v1.item_id = e.item_id
  AND __fsql_v1.__fsql_feature_ts = __fsql_m1.__fsql_match
ORDER BY
  e.__fsql_row

WITH __fsql_e0 AS (
  SELECT
    __fsql_row,
    user_id,
    DATE_PART(EPOCH_MICROSECOND, __fsql_ts) AS __fsql_at
  FROM __fsql_entities
  WHERE
    NOT user_id IS NULL AND NOT __fsql_ts IS NULL
), __fsql_b0 AS (
  SELECT
    user_id,
    MIN(__fsql_at) AS __fsql_lo,
    MAX(__fsql_at) AS __fsql_hi
  FROM __fsql_e0
  GROUP BY
    user_id
), __fsql_r0 AS (
  SELECT
    f.user_id,
    DATE_PART(EPOCH_MICROSECOND, f.event_timestamp) AS __fsql_at
  FROM user_orders AS f
  INNER JOIN __fsql_b0 AS __fsql_b0
    ON f.user_id = __fsql_b0.user_id
  WHERE
    NOT f.event_timestamp IS NULL
    AND DATE_PART(EPOCH_MICROSECOND, f.event_timestamp) <= __fsql_b0.__fsql_hi
    AND DATE_PART(EPOCH_MICROSECOND, f.event_timestamp) > __fsql_b0.__fsql_lo - 2592000000000
  QUALIFY
    ROW_NUMBER() OVER (
      PARTITION BY f.user_id, f.event_timestamp
      ORDER BY BITSHIFTRIGHT(HASH(f.amount), 1) DESC NULLS LAST
    ) = 1
), __fsql_n0 AS (
  SELECT
    user_id,
    COUNT(*) AS __fsql_n
  FROM __fsql_r0
  GROUP BY
    user_id
), __fsql_h0 AS (
  SELECT
    __fsql_e0.__fsql_row,
    __fsql_e0.user_id,
    __fsql_e0.__fsql_at
  FROM __fsql_e0 AS __fsql_e0
  INNER JOIN __fsql_n0 AS __fsql_n0
    ON __fsql_e0.user_id = __fsql_n0.user_id
  WHERE
    __fsql_n0.__fsql_n > 64
), __fsql_g0 AS (
  SELECT
    __fsql_e0.__fsql_row,
    __fsql_e0.user_id,
    __fsql_e0.__fsql_at
  FROM __fsql_e0 AS __fsql_e0
  LEFT JOIN __fsql_n0 AS __fsql_n0
    ON __fsql_e0.user_id = __fsql_n0.user_id
  WHERE
    __fsql_n0.__fsql_n IS NULL OR NOT (
      __fsql_n0.__fsql_n > 64
    )
), __fsql_k0 AS (
  SELECT
    __fsql_r0.*
  FROM __fsql_r0 AS __fsql_r0
  INNER JOIN __fsql_n0 AS __fsql_n0
    ON __fsql_r0.user_id = __fsql_n0.user_id
  WHERE
    __fsql_n0.__fsql_n > 64
), __fsql_q0 AS (
  SELECT
    user_id,
    __fsql_at,
    1 AS __fsql_ev,
    CAST(NULL AS BIGINT) AS __fsql_row
  FROM __fsql_k0
  UNION ALL
  SELECT
    user_id,
    __fsql_at,
    NULL AS __fsql_ev,
    __fsql_row
  FROM __fsql_h0
), __fsql_a0 AS (
  SELECT
    __fsql_row,
    __fsql_f0
  FROM (
    SELECT
      __fsql_row,
      COUNT(__fsql_ev) OVER (
        PARTITION BY user_id
        ORDER BY __fsql_at ASC
        RANGE BETWEEN 2591999999999 PRECEDING AND CURRENT ROW
      ) AS __fsql_f0
    FROM __fsql_q0
  ) AS __fsql_framed
  WHERE
    NOT __fsql_row IS NULL
  UNION ALL
  SELECT
    __fsql_g0.__fsql_row,
    COUNT(CASE WHEN __fsql_r0.__fsql_at > __fsql_g0.__fsql_at - 2592000000000 THEN 1 END) AS __fsql_f0
  FROM __fsql_g0 AS __fsql_g0
  LEFT JOIN __fsql_r0 AS __fsql_r0
    ON __fsql_r0.user_id = __fsql_g0.user_id
    AND __fsql_r0.__fsql_at <= __fsql_g0.__fsql_at
    AND __fsql_r0.__fsql_at > __fsql_g0.__fsql_at - 2592000000000
  GROUP BY
    __fsql_g0.__fsql_row
), __fsql_ve1 AS (
  SELECT
    __fsql_row,
    user_id,
    __fsql_ts AS __fsql_ts
  FROM __fsql_entities
  WHERE
    NOT user_id IS NULL AND NOT __fsql_ts IS NULL
), __fsql_vb1 AS (
  SELECT
    user_id,
    MIN(__fsql_ts) AS __fsql_lo,
    MAX(__fsql_ts) AS __fsql_hi
  FROM __fsql_ve1
  GROUP BY
    user_id
), __fsql_vc1 AS (
  SELECT
    f.user_id,
    f.event_timestamp AS __fsql_feature_ts,
    f.created_timestamp AS __fsql_created,
    BITSHIFTRIGHT(HASH(f.user_lifetime_value, f.user_order_days), 1) AS __fsql_version,
    CASE
      WHEN f.created_timestamp > f.event_timestamp
      THEN f.created_timestamp
      ELSE f.event_timestamp
    END AS __fsql_vis,
    f.user_lifetime_value
  FROM user_features AS f
  INNER JOIN __fsql_vb1 AS __fsql_vb1
    ON f.user_id = __fsql_vb1.user_id
  WHERE
    NOT f.event_timestamp IS NULL
    AND CASE
      WHEN f.created_timestamp > f.event_timestamp
      THEN f.created_timestamp
      ELSE f.event_timestamp
    END <= __fsql_vb1.__fsql_hi
    AND f.event_timestamp >= __fsql_vb1.__fsql_lo - INTERVAL '315360000 SECOND'
), __fsql_vs1 AS (
  SELECT
    user_id,
    CAST(__fsql_ts AS TIMESTAMPTZ) AS __fsql_at,
    CAST(NULL AS TIMESTAMPTZ) AS __fsql_feature_ts,
    CAST(__fsql_row AS BIGINT) AS __fsql_row,
    1 AS __fsql_is_entity
  FROM __fsql_ve1
  UNION ALL
  SELECT
    user_id,
    CAST(__fsql_vis AS TIMESTAMPTZ) AS __fsql_at,
    CAST(__fsql_feature_ts AS TIMESTAMPTZ) AS __fsql_feature_ts,
    CAST(NULL AS BIGINT) AS __fsql_row,
    0 AS __fsql_is_entity
  FROM __fsql_vc1
), __fsql_vm1 AS (
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
    FROM __fsql_vs1
  ) AS __fsql_w
  WHERE
    __fsql_is_entity = 1
), __fsql_vp1 AS (
  SELECT
    __fsql_vm1.__fsql_row,
    __fsql_vc1.__fsql_feature_ts,
    __fsql_vc1.user_lifetime_value
  FROM __fsql_vm1 AS __fsql_vm1
  INNER JOIN __fsql_ve1 AS __fsql_ve1
    ON __fsql_ve1.__fsql_row = __fsql_vm1.__fsql_row
  INNER JOIN __fsql_vc1 AS __fsql_vc1
    ON __fsql_vc1.user_id = __fsql_ve1.user_id
    AND __fsql_vc1.__fsql_feature_ts = __fsql_vm1.__fsql_match
    AND (
      __fsql_vc1.__fsql_created IS NULL
      OR __fsql_vc1.__fsql_created <= __fsql_ve1.__fsql_ts
    )
  QUALIFY
    ROW_NUMBER() OVER (
      PARTITION BY __fsql_vm1.__fsql_row
      ORDER BY __fsql_vc1.__fsql_created DESC NULLS LAST, __fsql_vc1.__fsql_version DESC NULLS LAST
    ) = 1
), __fsql_k2 AS (
  SELECT
    item_id,
    MAX(__fsql_ts) AS __fsql_hi
  FROM __fsql_entities
  GROUP BY
    item_id
), __fsql_v2 AS (
  SELECT
    f.item_id,
    f.event_timestamp AS __fsql_feature_ts,
    f.item_avg_rating,
    f.item_review_count,
    f.item_category
  FROM item_features AS f
  INNER JOIN __fsql_k2
    ON f.item_id = __fsql_k2.item_id
  WHERE
    f.event_timestamp <= __fsql_k2.__fsql_hi
  QUALIFY
    ROW_NUMBER() OVER (
      PARTITION BY f.item_id, f.event_timestamp
      ORDER BY BITSHIFTRIGHT(HASH(f.item_avg_rating, f.item_review_count, f.item_category), 1) DESC NULLS LAST
    ) = 1
), __fsql_e3 AS (
  SELECT
    __fsql_row,
    item_id,
    DATE_PART(EPOCH_MICROSECOND, __fsql_ts) - (
      (
        DATE_PART(EPOCH_MICROSECOND, __fsql_ts) % 3600000000 + 3600000000
      ) % 3600000000
    ) AS __fsql_at
  FROM __fsql_entities
  WHERE
    NOT item_id IS NULL AND NOT __fsql_ts IS NULL
), __fsql_b3 AS (
  SELECT
    item_id,
    MIN(__fsql_at) AS __fsql_lo,
    MAX(__fsql_at) AS __fsql_hi
  FROM __fsql_e3
  GROUP BY
    item_id
), __fsql_r3 AS (
  SELECT
    f.item_id,
    DATE_PART(EPOCH_MICROSECOND, f.event_timestamp) AS __fsql_at
  FROM item_orders AS f
  INNER JOIN __fsql_b3 AS __fsql_b3
    ON f.item_id = __fsql_b3.item_id
  WHERE
    NOT f.event_timestamp IS NULL
    AND DATE_PART(EPOCH_MICROSECOND, f.event_timestamp) <= __fsql_b3.__fsql_hi
    AND DATE_PART(EPOCH_MICROSECOND, f.event_timestamp) > __fsql_b3.__fsql_lo - 604800000000
  QUALIFY
    ROW_NUMBER() OVER (
      PARTITION BY f.item_id, f.event_timestamp
      ORDER BY BITSHIFTRIGHT(HASH(f.user_id), 1) DESC NULLS LAST
    ) = 1
), __fsql_n3 AS (
  SELECT
    item_id,
    COUNT(*) AS __fsql_n
  FROM __fsql_r3
  GROUP BY
    item_id
), __fsql_h3 AS (
  SELECT
    __fsql_e3.__fsql_row,
    __fsql_e3.item_id,
    __fsql_e3.__fsql_at
  FROM __fsql_e3 AS __fsql_e3
  INNER JOIN __fsql_n3 AS __fsql_n3
    ON __fsql_e3.item_id = __fsql_n3.item_id
  WHERE
    __fsql_n3.__fsql_n > 64
), __fsql_g3 AS (
  SELECT
    __fsql_e3.__fsql_row,
    __fsql_e3.item_id,
    __fsql_e3.__fsql_at
  FROM __fsql_e3 AS __fsql_e3
  LEFT JOIN __fsql_n3 AS __fsql_n3
    ON __fsql_e3.item_id = __fsql_n3.item_id
  WHERE
    __fsql_n3.__fsql_n IS NULL OR NOT (
      __fsql_n3.__fsql_n > 64
    )
), __fsql_k3 AS (
  SELECT
    __fsql_r3.*
  FROM __fsql_r3 AS __fsql_r3
  INNER JOIN __fsql_n3 AS __fsql_n3
    ON __fsql_r3.item_id = __fsql_n3.item_id
  WHERE
    __fsql_n3.__fsql_n > 64
), __fsql_q3 AS (
  SELECT
    item_id,
    __fsql_at,
    1 AS __fsql_ev,
    CAST(NULL AS BIGINT) AS __fsql_row
  FROM __fsql_k3
  UNION ALL
  SELECT
    item_id,
    __fsql_at,
    NULL AS __fsql_ev,
    __fsql_row
  FROM __fsql_h3
), __fsql_a3 AS (
  SELECT
    __fsql_row,
    __fsql_f0
  FROM (
    SELECT
      __fsql_row,
      COUNT(__fsql_ev) OVER (
        PARTITION BY item_id
        ORDER BY __fsql_at ASC
        RANGE BETWEEN 604799999999 PRECEDING AND CURRENT ROW
      ) AS __fsql_f0
    FROM __fsql_q3
  ) AS __fsql_framed
  WHERE
    NOT __fsql_row IS NULL
  UNION ALL
  SELECT
    __fsql_g3.__fsql_row,
    COUNT(CASE WHEN __fsql_r3.__fsql_at > __fsql_g3.__fsql_at - 604800000000 THEN 1 END) AS __fsql_f0
  FROM __fsql_g3 AS __fsql_g3
  LEFT JOIN __fsql_r3 AS __fsql_r3
    ON __fsql_r3.item_id = __fsql_g3.item_id
    AND __fsql_r3.__fsql_at <= __fsql_g3.__fsql_at
    AND __fsql_r3.__fsql_at > __fsql_g3.__fsql_at - 604800000000
  GROUP BY
    __fsql_g3.__fsql_row
)
SELECT
  e.__fsql_row,
  CAST(__fsql_a0.__fsql_f0 AS BIGINT) AS user_30d_purchase_count,
  CASE
    WHEN __fsql_vp1.__fsql_feature_ts >= e.__fsql_ts - INTERVAL '315360000 SECOND'
    THEN __fsql_vp1.user_lifetime_value
  END AS user_lifetime_value,
  __fsql_v2.item_avg_rating AS item_avg_rating,
  __fsql_v2.item_review_count AS item_review_count,
  __fsql_v2.item_category AS item_category,
  CAST(__fsql_a3.__fsql_f0 AS BIGINT) AS item_purchase_count_7d
FROM __fsql_entities AS e
LEFT JOIN __fsql_a0 AS __fsql_a0
  ON __fsql_a0.__fsql_row = e.__fsql_row
LEFT JOIN __fsql_vp1 AS __fsql_vp1
  ON __fsql_vp1.__fsql_row = e.__fsql_row
ASOF JOIN __fsql_v2 AS __fsql_v2 MATCH_CONDITION (e.__fsql_ts >= __fsql_v2.__fsql_feature_ts)
  ON e.item_id = __fsql_v2.item_id
LEFT JOIN __fsql_a3 AS __fsql_a3
  ON __fsql_a3.__fsql_row = e.__fsql_row
ORDER BY
  e.__fsql_row

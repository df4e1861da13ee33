{#-
  Time-bucketing helpers shared by the models.

  day_end(col): the end of the UTC day that `col` falls in, i.e. the next midnight.
  Daily aggregates are stamped with it rather than with the day's start: a day's totals
  are only known once the day is over, and stamping them earlier would let a training
  row at noon see orders placed that evening (label leakage).
  Timestamps are naive UTC; the engine session runs in UTC.
-#}
{%- macro day_end(col) -%}
(date_trunc('day', CAST({{ col }} AS TIMESTAMP)) + INTERVAL 1 DAY)
{%- endmacro -%}

-- ring_balance: exact shares from arc lengths.
SELECT hashring.ring_create('bal', vnodes => 100);
SELECT hashring.ring_add_node('bal', 'n' || i, i) FROM generate_series(1, 4) i;
SELECT node, weight, points, round(expected_share::numeric, 4) AS expected,
       share > 0 AS owns, overloaded
  FROM hashring.ring_balance('bal') ORDER BY node;
SELECT abs(sum(share) - 1) < 1e-12 AS shares_sum_to_one,
       abs(sum(expected_share) - 1) < 1e-12 AS expected_sum_to_one,
       bool_and(abs(deviation - (share / expected_share - 1)) < 1e-12) AS deviation_consistent
  FROM hashring.ring_balance('bal');
-- shares agree with the fraction of 200,000 sampled keys within 1%
SELECT bool_and(abs(b.share - s.frac) < 0.01) AS sampled_matches
  FROM hashring.ring_balance('bal') b
  JOIN (SELECT hashring.ring_node('bal', 's' || i) AS node, count(*) / 200000.0 AS frac
          FROM generate_series(1, 200000) i GROUP BY 1) s USING (node);
-- a down node owns nothing and its arcs count for the live nodes
SELECT hashring.ring_set_state('bal', 'n4', 'down');
SELECT node, share = 0 AS zero_share, expected_share, deviation IS NULL AS no_deviation, overloaded
  FROM hashring.ring_balance('bal') WHERE node = 'n4';
SELECT abs(sum(share) - 1) < 1e-12 AS live_shares_sum_to_one,
       abs(sum(expected_share) - 1) < 1e-12 AS live_expected_sum_to_one
  FROM hashring.ring_balance('bal');
SELECT hashring.ring_set_state('bal', 'n4', 'active');
-- overloaded follows hashring.balance_alert_ratio
SET hashring.balance_alert_ratio = 1.0;
SELECT count(*) FILTER (WHERE overloaded) = count(*) FILTER (WHERE share > expected_share) AS ratio_one
  FROM hashring.ring_balance('bal');
-- a ratio below 1 would flag nodes that are not over their share: rejected
SET hashring.balance_alert_ratio = 0.5;
RESET hashring.balance_alert_ratio;
SELECT count(*) FILTER (WHERE overloaded) AS overloaded_at_2 FROM hashring.ring_balance('bal');
-- a single node owns everything
SELECT hashring.ring_create('one', vnodes => 1);
SELECT hashring.ring_add_node('one', 'only');
SELECT node, share, expected_share, deviation FROM hashring.ring_balance('one');
-- the default-ring variant
SET hashring.default_ring = 'one';
SELECT node, share FROM hashring.ring_balance();
RESET hashring.default_ring;
SELECT hashring.ring_drop('one');
SELECT hashring.ring_drop('bal');

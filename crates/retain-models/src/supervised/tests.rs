use rand::{Rng, SeedableRng};

use super::*;

/// Customers whose churn follows a known logistic model of three of five features (one
/// categorical, one with missing values); returns the frame, outcomes, and the true
/// probabilities.
fn simulated(n: usize, seed: u64) -> (FeatureFrame, Vec<f64>, Vec<f64>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let plans = ["basic", "plus", "gold"];
    let (mut tenure, mut spend, mut noise, mut support, mut plan) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut y, mut truth) = (vec![], vec![]);
    for _ in 0..n {
        let t: f64 = rng.random_range(0.0..60.0);
        let s: f64 = (rng.random::<f64>() * 5.0).exp();
        let calls: f64 = if rng.random::<f64>() < 0.1 {
            f64::NAN
        } else {
            f64::from(rng.random_range(0..6))
        };
        let p = rng.random_range(0..3);
        let logit = 1.0 - 0.06 * t
            + [0.8, 0.0, -1.2][p]
            + if calls.is_nan() {
                0.0
            } else {
                0.35 * calls - 0.9
            };
        let prob = 1.0 / (1.0 + (-logit).exp());
        tenure.push(t);
        spend.push(s);
        noise.push(rng.random::<f64>());
        support.push(calls);
        plan.push(plans[p]);
        truth.push(prob);
        y.push(f64::from(u8::from(rng.random::<f64>() < prob)));
    }
    let mut frame = FeatureFrame::new(n);
    frame.push("tenure", ColumnValues::Numbers(tenure)).unwrap();
    frame.push("spend", ColumnValues::Numbers(spend)).unwrap();
    frame.push("noise", ColumnValues::Numbers(noise)).unwrap();
    frame
        .push("support_calls", ColumnValues::Numbers(support))
        .unwrap();
    frame
        .push("plan", ColumnValues::categories(plan.into_iter().map(Some)))
        .unwrap();
    (frame, y, truth)
}

#[test]
fn churn_model_learns_a_known_process_and_its_reasons_add_up() {
    let (frame, y, _) = simulated(3_000, 1);
    let model = GradientBoosting::new(Task::Churn).fit(&frame, &y).unwrap();
    let (test, y_test, truth_test) = simulated(2_000, 2);
    let predicted = model.predict(&test).unwrap();
    // The true probabilities rank the test customers with this AUC; a model that learned the
    // process comes close (sampling noise of 3,000 training rows costs ~0.01-0.02).
    let oracle = metrics::auc(&y_test, &truth_test);
    let auc = metrics::auc(&y_test, &predicted.score);
    assert!(
        auc > oracle - 0.03,
        "model AUC {auc:.4} vs the true model's {oracle:.4}"
    );

    for attribution in [Attribution::Path, Attribution::Shapley] {
        let explained = model.explain(&test, 0, attribution).unwrap().explanations;
        for (e, raw) in explained.iter().zip(&predicted.raw) {
            let total: f64 = e.base + e.reasons.iter().map(|r| r.contribution).sum::<f64>();
            // The trees keep node weights in single precision and the contributions are summed in
            // another order than the prediction: they agree to ~1e-7 relative, so 1e-6.
            assert!(
                (total - raw).abs() < 1e-6 * (1.0 + raw.abs()),
                "base + contributions {total} != raw {raw}"
            );
            assert_eq!(e.raw, *raw);
        }
    }
    // Top reasons come largest first and carry the customer's values.
    let top = model
        .explain(&test, 2, Attribution::Path)
        .unwrap()
        .explanations;
    assert_eq!(top[0].reasons.len(), 2);
    assert!(top[0].reasons[0].contribution.abs() >= top[0].reasons[1].contribution.abs());
    assert!(matches!(
        top[0]
            .reasons
            .iter()
            .find(|r| r.feature == "plan")
            .map(|r| &r.value),
        None | Some(FeatureValue::Category(_))
    ));

    // The noise feature matters least.
    let importance = model.importance();
    assert!((importance.iter().map(|i| i.share).sum::<f64>() - 1.0).abs() < 1e-4);
    let noise_rank = importance
        .iter()
        .position(|i| i.feature == "noise")
        .unwrap();
    assert!(noise_rank >= 3, "{importance:?}");
}

#[test]
fn amount_model_contributions_add_up_to_its_output() {
    let (frame, _, truth) = simulated(1_500, 3);
    let amounts: Vec<f64> = truth.iter().map(|p| 100.0 * (1.0 - p)).collect();
    let model = GradientBoosting::new(Task::Clv)
        .fit(&frame, &amounts)
        .unwrap();
    let predicted = model.predict(&frame).unwrap();
    assert!(metrics::spearman(&amounts, &predicted.score) > 0.8);
    for (e, raw) in model
        .explain(&frame, 0, Attribution::Shapley)
        .unwrap()
        .explanations
        .iter()
        .zip(&predicted.raw)
    {
        let total: f64 = e.base + e.reasons.iter().map(|r| r.contribution).sum::<f64>();
        assert!(
            (total - raw).abs() < 1e-6 * (1.0 + raw.abs()),
            "{total} != {raw}"
        );
    }
}

#[test]
fn saved_models_predict_the_same() {
    let (frame, y, _) = simulated(800, 4);
    let model = GradientBoosting::new(Task::Churn).fit(&frame, &y).unwrap();
    let text = serde_json::to_string(&model).unwrap();
    let loaded: FittedModel = serde_json::from_str(&text).unwrap();
    assert_eq!(
        model.predict(&frame).unwrap(),
        loaded.predict(&frame).unwrap()
    );
}

#[test]
fn cross_validation_keeps_outcome_shares_and_scores_every_row_once() {
    let (frame, y, _) = simulated(1_000, 5);
    let folds = assign_folds(Task::Churn, &y, 5, 0);
    let positives: f64 = y.iter().sum();
    for fold in 0..5 {
        let in_fold: Vec<usize> = (0..y.len()).filter(|&i| folds[i] == fold).collect();
        let share = in_fold.iter().map(|&i| y[i]).sum::<f64>();
        assert!(
            (share - positives / 5.0).abs() <= 1.0,
            "fold {fold}: {share} positives"
        );
        assert_eq!(in_fold.len(), 200);
    }
    let cv = GradientBoosting::new(Task::Churn)
        .cross_validate(&frame, &y, 3)
        .unwrap();
    assert!(cv.out_of_fold.iter().all(|p| (0.0..=1.0).contains(p)));
    assert_eq!(cv.fold_metrics.len(), 3);
    let calibration = cv.calibration.as_ref().unwrap();
    assert_eq!(
        calibration.iter().map(|b| b.customers).sum::<usize>(),
        1_000
    );
    let (name, auc, sd) = cv.summary()[0];
    assert_eq!(name, "auc");
    assert!(auc > 0.7 && sd < 0.1, "{auc} ± {sd}");
}

#[test]
fn bad_targets_are_named() {
    let (frame, mut y, _) = simulated(50, 6);
    let all_zero = vec![0.0; 50];
    let error = GradientBoosting::new(Task::Churn)
        .fit(&frame, &all_zero)
        .unwrap_err()
        .to_string();
    assert!(error.contains("needs both outcomes"), "{error}");
    y[7] = 2.0;
    let error = GradientBoosting::new(Task::Churn)
        .fit(&frame, &y)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("row 7") && error.contains("0 or 1"),
        "{error}"
    );
    y[7] = f64::NAN;
    let error = GradientBoosting::new(Task::Clv)
        .fit(&frame, &y)
        .unwrap_err()
        .to_string();
    assert!(error.contains("row 7"), "{error}");
    y[7] = 0.0;
    let error = GradientBoosting {
        learning_rate: 0.0,
        ..GradientBoosting::new(Task::Churn)
    }
    .fit(&frame, &y)
    .unwrap_err()
    .to_string();
    assert!(error.contains("learning rate"), "{error}");
    let error = GradientBoosting {
        subsample: 1.5,
        ..GradientBoosting::new(Task::Churn)
    }
    .fit(&frame, &y)
    .unwrap_err()
    .to_string();
    assert!(error.contains("subsample"), "{error}");
}

/// v(S) of path-dependent tree SHAP for one tree: the output with the features in `known` at the
/// row's values and the others averaged over the training rows, by each node's cover.
fn conditional_output(
    tree: &forust_ml::tree::Tree,
    node: usize,
    row: &[f64],
    known: &[bool],
) -> f64 {
    let n = &tree.nodes[node];
    if n.is_leaf {
        return f64::from(n.weight_value);
    }
    if known[n.split_feature] {
        let next = if row[n.split_feature] < n.split_value {
            n.left_child
        } else {
            n.right_child
        };
        return conditional_output(tree, next, row, known);
    }
    let (left, right) = (&tree.nodes[n.left_child], &tree.nodes[n.right_child]);
    let (wl, wr) = (f64::from(left.hessian_sum), f64::from(right.hessian_sum));
    (wl * conditional_output(tree, n.left_child, row, known)
        + wr * conditional_output(tree, n.right_child, row, known))
        / (wl + wr)
}

#[test]
fn exact_shap_equals_shapley_values_by_enumeration() {
    let (frame, y, _) = simulated(1_000, 7);
    let model = GradientBoosting {
        rounds: 25,
        max_depth: 3,
        ..GradientBoosting::new(Task::Churn)
    }
    .fit(&frame, &y)
    .unwrap();
    let (rows, _, _) = simulated(20, 8);
    let encoded = model.schema.encode(&rows).unwrap();
    let m = encoded.cols;
    let value = |row: &[f64], subset: usize| -> f64 {
        let known: Vec<bool> = (0..m).map(|j| subset >> j & 1 == 1).collect();
        model
            .booster
            .trees
            .iter()
            .map(|t| conditional_output(t, 0, row, &known))
            .sum()
    };
    let factorial = |k: usize| (1..=k).product::<usize>() as f64;
    let explained = model
        .explain(&rows, 0, Attribution::Shapley)
        .unwrap()
        .explanations;
    for (i, e) in explained.iter().enumerate() {
        let row: Vec<f64> = (0..m).map(|j| encoded.values[j * rows.rows + i]).collect();
        for (j, spec) in model.schema.features.iter().enumerate() {
            // φ_j = Σ over subsets S without j of |S|! (m - |S| - 1)! / m! (v(S ∪ j) - v(S)).
            let phi: f64 = (0..1usize << m)
                .filter(|s| s >> j & 1 == 0)
                .map(|s| {
                    let size = s.count_ones() as usize;
                    factorial(size) * factorial(m - size - 1) / factorial(m)
                        * (value(&row, s | 1 << j) - value(&row, s))
                })
                .sum();
            let reported = e
                .reasons
                .iter()
                .find(|r| r.feature == spec.name)
                .unwrap()
                .contribution;
            // The same single-precision node weights, combined partly in single precision by
            // forust-ml: they agree to ~1e-8 (contributions here are ~0.01-1), a wrong weight
            // or ordering would be off by orders more.
            assert!(
                (phi - reported).abs() < 1e-7,
                "row {i} {}: enumerated {phi} vs tree SHAP {reported}",
                spec.name
            );
        }
    }
}

#[test]
fn path_attribution_equals_forusts_in_one_walk() {
    let (frame, y, _) = simulated(600, 9);
    let model = GradientBoosting {
        rounds: 60,
        ..GradientBoosting::new(Task::Churn)
    }
    .fit(&frame, &y)
    .unwrap();
    let (rows, _, _) = simulated(300, 10);
    let encoded = model.schema.encode(&rows).unwrap();
    let row_major: Vec<f64> = (0..encoded.cols)
        .flat_map(|j| encoded.values[j * rows.rows..(j + 1) * rows.rows].to_vec())
        .collect();
    let matrix = Matrix::new(&row_major, rows.rows, encoded.cols);
    let theirs = model
        .booster
        .predict_contributions(&matrix, ContributionsMethod::Average, false);
    let (raw, ours) = paths::outputs_and_contributions(model.forest(), &encoded, 0..rows.rows);
    assert_eq!(raw, model.booster.predict(&matrix, false));
    for (k, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        // Same node means, same order of additions per feature except the bias (a sum over trees
        // here, accumulated row by row there).
        assert!((a - b).abs() < 1e-12, "entry {k}: {a} vs {b}");
    }
}

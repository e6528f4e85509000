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
        let explained = model.explain(&test, 0, attribution).unwrap();
        for (e, raw) in explained.iter().zip(&predicted.raw) {
            let total: f64 = e.base + e.reasons.iter().map(|r| r.contribution).sum::<f64>();
            // perpetual keeps leaf weights in single precision and sums the SHAP values in another
            // order than the prediction: they agree to ~1e-7 relative, so 1e-6 is the tolerance.
            assert!(
                (total - raw).abs() < 1e-6 * (1.0 + raw.abs()),
                "base + contributions {total} != raw {raw}"
            );
            assert_eq!(e.raw, *raw);
        }
    }
    // Top reasons come largest first and carry the customer's values.
    let top = model.explain(&test, 2, Attribution::Path).unwrap();
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
}

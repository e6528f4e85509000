//! Lifecycle stages of customers at a date, by rules a marketing team can read and change:
//!
//! - **new**: first purchase less than `new_days` ago;
//! - **lapsed**: otherwise, no purchase for `lapsed_days` or more;
//! - **at risk**: otherwise, no purchase for `active_days` or more, or, when a purchase model
//!   is given, P(alive) below `at_risk_below` (the model replaces the fixed window: a customer
//!   who buys every 200 days is not at risk at day 120, one who bought daily may be);
//! - **active**: the rest.
//!
//! Customers with no purchase by the date are not yet customers and get no stage.

use serde::Serialize;

/// A customer's stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    New,
    Active,
    AtRisk,
    Lapsed,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::New, Stage::Active, Stage::AtRisk, Stage::Lapsed];

    pub fn name(self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::Active => "active",
            Stage::AtRisk => "at risk",
            Stage::Lapsed => "lapsed",
        }
    }
}

/// The thresholds of the stages, in days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LifecycleRules {
    pub new_days: i32,
    pub active_days: i32,
    pub lapsed_days: i32,
    /// With a purchase model: at risk when P(alive) is below this.
    pub at_risk_below: f64,
}

impl Default for LifecycleRules {
    fn default() -> Self {
        LifecycleRules {
            new_days: 30,
            active_days: 90,
            lapsed_days: 365,
            at_risk_below: 0.5,
        }
    }
}

impl LifecycleRules {
    /// Whether the thresholds are ordered and the probability a probability.
    pub fn check(&self) -> Result<(), String> {
        if !(0 <= self.new_days && 0 < self.active_days && self.active_days <= self.lapsed_days) {
            return Err(format!(
                "the thresholds must satisfy 0 <= new ({}) and 0 < active ({}) <= lapsed ({}) days",
                self.new_days, self.active_days, self.lapsed_days
            ));
        }
        if !(0.0..=1.0).contains(&self.at_risk_below) {
            return Err(format!(
                "the P(alive) threshold must be between 0 and 1, found {}",
                self.at_risk_below
            ));
        }
        Ok(())
    }

    /// The stage of a customer whose first purchase was `since_first` days ago and last
    /// `since_last` days ago, with P(alive) when a model is given.
    pub fn stage(&self, since_first: i32, since_last: i32, p_alive: Option<f64>) -> Stage {
        if since_first < self.new_days {
            Stage::New
        } else if since_last >= self.lapsed_days {
            Stage::Lapsed
        } else if match p_alive {
            Some(p) => p < self.at_risk_below,
            None => since_last >= self.active_days,
        } {
            Stage::AtRisk
        } else {
            Stage::Active
        }
    }
}

/// Customers per stage at a date, and how they moved from an earlier date: `moves[from][to]`
/// where `from` is 0 for "not yet a customer" and 1 + the stage's index otherwise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transitions {
    pub counts: [u64; 4],
    pub moves: [[u64; 4]; 5],
}

/// Counts and transitions from per-customer stages at an earlier and a later date (`None`:
/// not a customer yet).
pub fn transitions(pairs: impl IntoIterator<Item = (Option<Stage>, Option<Stage>)>) -> Transitions {
    let mut t = Transitions {
        counts: [0; 4],
        moves: [[0; 4]; 5],
    };
    let index = |s: Stage| Stage::ALL.iter().position(|&x| x == s).expect("listed");
    for (before, after) in pairs {
        let Some(after) = after else { continue };
        t.counts[index(after)] += 1;
        t.moves[before.map_or(0, |b| 1 + index(b))][index(after)] += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_in_order() {
        let r = LifecycleRules::default();
        assert_eq!(r.stage(10, 10, None), Stage::New);
        // New wins over a low P(alive): too early to judge.
        assert_eq!(r.stage(10, 10, Some(0.1)), Stage::New);
        assert_eq!(r.stage(400, 30, None), Stage::Active);
        assert_eq!(r.stage(400, 90, None), Stage::AtRisk);
        assert_eq!(r.stage(400, 365, None), Stage::Lapsed);
        assert_eq!(r.stage(400, 365, Some(0.9)), Stage::Lapsed);
        assert_eq!(r.stage(400, 120, Some(0.9)), Stage::Active);
        assert_eq!(r.stage(400, 20, Some(0.3)), Stage::AtRisk);
        assert!(LifecycleRules {
            active_days: 400,
            ..r
        }
        .check()
        .is_err());
        assert!(r.check().is_ok());
    }

    #[test]
    fn transitions_count_every_customer_of_the_later_date() {
        let t = transitions([
            (None, Some(Stage::New)),
            (Some(Stage::New), Some(Stage::Active)),
            (Some(Stage::Active), Some(Stage::AtRisk)),
            (Some(Stage::Active), Some(Stage::AtRisk)),
            (None, None),
        ]);
        assert_eq!(t.counts, [1, 1, 2, 0]);
        assert_eq!(t.moves[0], [1, 0, 0, 0]);
        assert_eq!(t.moves[1], [0, 1, 0, 0]);
        assert_eq!(t.moves[2], [0, 0, 2, 0]);
    }
}

//! Path attribution (Saabas; XGBoost's `approx_contribs`, forust-ml's `Average`) and the model's
//! output in one walk down each tree per customer: each split's change of the cover-weighted
//! mean output is credited to its feature, and the leaf reached is the tree's output.
//!
//! Scoring a million customers with reasons is dominated by these walks (4 levels × 400 trees a
//! customer), and a walk is bound by the unpredictable branch at each split and by the chain of
//! loads from one node to the next. forust-ml walks twice (output, then contributions) with a
//! branch per split; here the trees are laid flat once (feature, threshold, both children, each
//! node's change of mean), a split picks its child by index, without a branch, and 16
//! customers walk each tree side by side, for exactly the tree's depth (a leaf leads to itself),
//! so their independent chains overlap. 1M customers × 400 trees: 4.5 s with a branch per split
//! in one walk, 16 side by side: see bench/README.md.

use forust_ml::GradientBooster;
use rayon::prelude::*;

use super::Encoded;

/// Rows a thread takes at a time.
const ROWS_PER_TASK: usize = 4_096;
/// Rows that walk a tree side by side.
const LANES: usize = 16;

/// A tree's nodes as parallel arrays.
struct FlatTree {
    /// Split feature; at a leaf, `scratch`, a slot past the bias whose sums are thrown away.
    feature: Vec<usize>,
    threshold: Vec<f64>,
    /// Left and right child: a value below the threshold goes left; a leaf's children are itself.
    children: Vec<[usize; 2]>,
    /// The node's cover-weighted mean output minus its parent's (0 at the root).
    change: Vec<f64>,
    /// Leaf weights (0 for splits).
    weight: Vec<f64>,
    /// Splits from the root to the deepest leaf.
    depth: usize,
}

impl FlatTree {
    fn of(tree: &forust_ml::tree::Tree, scratch: usize) -> FlatTree {
        let means = tree.distribute_leaf_weights();
        let n = tree.nodes.len();
        let mut flat = FlatTree {
            feature: vec![scratch; n],
            threshold: vec![0.0; n],
            children: (0..n).map(|at| [at, at]).collect(),
            change: vec![0.0; n],
            weight: vec![0.0; n],
            depth: tree.nodes.iter().map(|node| node.depth).max().unwrap_or(0),
        };
        for (at, node) in tree.nodes.iter().enumerate() {
            if node.is_leaf {
                flat.weight[at] = f64::from(node.weight_value);
                continue;
            }
            flat.feature[at] = node.split_feature;
            flat.threshold[at] = node.split_value;
            flat.children[at] = [node.left_child, node.right_child];
            for child in [node.left_child, node.right_child] {
                flat.change[child] = means[child] - means[at];
            }
        }
        flat
    }
}

/// A model's trees laid flat, made once per loaded model (scoring one customer must not pay for
/// laying out 400 trees).
pub(super) struct Forest {
    trees: Vec<FlatTree>,
    base_score: f64,
    /// The base score plus each tree's mean output over its training rows.
    bias: f64,
    cols: usize,
}

impl Forest {
    pub(super) fn of(booster: &GradientBooster, cols: usize) -> Forest {
        Forest {
            trees: booster
                .trees
                .par_iter()
                .map(|t| FlatTree::of(t, cols + 1))
                .collect(),
            base_score: booster.base_score,
            bias: booster.base_score
                + booster
                    .trees
                    .iter()
                    .map(|t| t.distribute_leaf_weights()[0])
                    .sum::<f64>(),
            cols,
        }
    }
}

/// For every row in `rows`: the raw output (summed as `GradientBooster::predict` sums it: the
/// base score, then each tree in order, so the two agree exactly) and `cols + 1` contributions,
/// the last being the bias (the base score plus each tree's mean output over its training rows).
/// The matrix holds no missing values (frame.rs encodes them as numbers), so forust-ml's
/// missing-value branches are never taken.
pub(super) fn outputs_and_contributions(
    forest: &Forest,
    x: &Encoded,
    rows: std::ops::Range<usize>,
) -> (Vec<f64>, Vec<f64>) {
    debug_assert!(x.values.iter().all(|v| !v.is_nan()));
    let cols = x.cols;
    assert_eq!(cols, forest.cols, "the forest of another schema");
    // Per row: the features, the bias, then the scratch slot leaves point at.
    let stride = cols + 2;
    let (trees, bias, base_score) = (&forest.trees, forest.bias, forest.base_score);
    let width = cols + 1;
    let mut raw = vec![0.0; rows.len()];
    let mut contributions = vec![0.0; rows.len() * width];
    let task = |(task, (raw, contributions)): (usize, (&mut [f64], &mut [f64]))| {
        let first = rows.start + task * ROWS_PER_TASK;
        let mut values = vec![0.0; LANES * stride];
        let mut sums = vec![0.0; LANES * stride];
        for (block, (raw, contributions)) in raw
            .chunks_mut(LANES)
            .zip(contributions.chunks_mut(LANES * width))
            .enumerate()
        {
            let lanes = raw.len();
            for lane in 0..lanes {
                let i = first + block * LANES + lane;
                for j in 0..cols {
                    values[lane * stride + j] = x.values[j * x.rows + i];
                }
            }
            sums.fill(0.0);
            raw.fill(base_score);
            for tree in trees {
                let mut at = [0usize; LANES];
                for _ in 0..tree.depth {
                    for lane in 0..lanes {
                        let node = at[lane];
                        let feature = tree.feature[node];
                        let value = values[lane * stride + feature];
                        let next = tree.children[node][usize::from(value >= tree.threshold[node])];
                        sums[lane * stride + feature] += tree.change[next];
                        at[lane] = next;
                    }
                }
                for (output, &leaf) in raw.iter_mut().zip(&at) {
                    *output += tree.weight[leaf];
                }
            }
            for (lane, c) in contributions.chunks_mut(width).enumerate() {
                c[..cols].copy_from_slice(&sums[lane * stride..lane * stride + cols]);
                c[cols] = bias;
            }
        }
    };
    if rows.len() <= ROWS_PER_TASK {
        // One task: on this thread (a request thread hands nothing to the pool).
        task((0, (&mut raw[..], &mut contributions[..])));
    } else {
        raw.par_chunks_mut(ROWS_PER_TASK)
            .zip(contributions.par_chunks_mut(ROWS_PER_TASK * width))
            .enumerate()
            .for_each(task);
    }
    (raw, contributions)
}

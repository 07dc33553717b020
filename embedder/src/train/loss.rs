//! The VSE hinge loss of the reference (`utils.calcul_contraloss`).

use tch::{Kind, Tensor};

/// Margin of the reference's hinge loss.
pub const MARGIN: f64 = 0.2;

/// Hinge loss of a `B x B` similarity matrix whose diagonal holds the matching pairs
/// (image `i`, caption `i`): for every off-diagonal entry, `max(0, margin + S[i,j] - S[i,i])`
/// (caption `j` as a negative for image `i`) plus `max(0, margin + S[i,j] - S[j,j])` (image
/// `i` as a negative for caption `j`), summed; with `max_violation`, only the hardest
/// negative of each row and of each column counts. Built from the reference's ops
/// (`clamp(min=0)`, `masked_fill` of the diagonal, `max` per row/column), so autograd
/// routes the gradient exactly as the reference's does, ties and zeros included.
pub fn vse_hinge(scores: &Tensor, margin: f64, max_violation: bool) -> Tensor {
    let b = scores.size()[0];
    let diagonal = scores.diag(0).view([b, 1]);
    let d1 = diagonal.expand_as(scores);
    let d2 = diagonal.tr().expand_as(scores);
    let eye = Tensor::eye(b, (Kind::Bool, scores.device()));
    // (margin + S) - d, in the reference's order, so the loss rounds the same way.
    let cost_s = ((scores + margin) - d1).clamp_min(0.0).masked_fill(&eye, 0.0);
    let cost_im = ((scores + margin) - d2).clamp_min(0.0).masked_fill(&eye, 0.0);
    if max_violation {
        let (s, _) = cost_s.max_dim(1, false);
        let (im, _) = cost_im.max_dim(0, false);
        s.sum(Kind::Float) + im.sum(Kind::Float)
    } else {
        cost_s.sum(Kind::Float) + cost_im.sum(Kind::Float)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix() -> Tensor {
        Tensor::from_slice(&[0.9f32, 0.8, 0.1, 0.3, 0.5, 0.65, 0.2, 0.6, 0.4]).view([3, 3])
    }

    #[test]
    fn sum_and_max_violation_by_hand() {
        // cost_s[i][j] = max(0, 0.2 + S[i][j] - S[i][i]): row 0: 0.1; row 1: 0.35; row 2: 0.4.
        // cost_im[i][j] = max(0, 0.2 + S[i][j] - S[j][j]): col 1: 0.5 and 0.3; col 2: 0.45.
        let s = matrix();
        let sum = vse_hinge(&s, MARGIN, false).double_value(&[]);
        assert!((sum - (0.1 + 0.35 + 0.4 + 0.5 + 0.3 + 0.45)).abs() < 1e-6, "{sum}");
        let max = vse_hinge(&s, MARGIN, true).double_value(&[]);
        assert!((max - (0.1 + 0.35 + 0.4 + 0.0 + 0.5 + 0.45)).abs() < 1e-6, "{max}");
    }

    #[test]
    fn gradient_reaches_only_violating_entries() {
        let s = matrix().set_requires_grad(true);
        vse_hinge(&s, MARGIN, true).backward();
        let g = Vec::<f32>::try_from(s.grad().view([-1])).unwrap();
        // Hardest negatives: rows 0->1, 1->2, 2->1; columns 1<-0, 2<-1 (column 0 has
        // no violation). Each violating term adds +1 to its negative and -1 to its
        // positive (the diagonal entry). Same vector as torch gives for the reference code.
        assert_eq!(g, vec![-1.0, 2.0, 0.0, 0.0, -2.0, 2.0, 0.0, 1.0, -2.0]);
    }
}

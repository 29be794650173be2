//! The common MLP shapes as nested pairs.

use super::super::activation::Identity;
use super::super::dense::Dense;

/// One hidden layer: `IN → H → OUT`, hidden activation `A`, output activation `B`.
pub type Mlp1<const IN: usize, const H: usize, const OUT: usize, A, B = Identity> =
    (Dense<IN, H, A>, Dense<H, OUT, B>);

/// Two hidden layers: `IN → H1 → H2 → OUT`.
pub type Mlp2<
    const IN: usize,
    const H1: usize,
    const H2: usize,
    const OUT: usize,
    A,
    B = Identity,
> = (Dense<IN, H1, A>, (Dense<H1, H2, A>, Dense<H2, OUT, B>));

/// Three hidden layers: `IN → H1 → H2 → H3 → OUT`.
pub type Mlp3<
    const IN: usize,
    const H1: usize,
    const H2: usize,
    const H3: usize,
    const OUT: usize,
    A,
    B = Identity,
> = (
    Dense<IN, H1, A>,
    (Dense<H1, H2, A>, (Dense<H2, H3, A>, Dense<H3, OUT, B>)),
);

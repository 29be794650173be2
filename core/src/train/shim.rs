//! TEMPORARY until nn lands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NoiseOn {
    #[default]
    Weights,
    WeightsAndBiases,
}

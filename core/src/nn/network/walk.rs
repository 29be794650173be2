//! A const-generic network as a [`LayerStack`], the way the public passes
//! reach its sealed walks.

use super::super::stack::{BackPass, Carry, DownPass, LayerStack, Seed, UpPass};
use super::Network;
use super::sealed::TOKEN;
use crate::error::Error;

/// A const-generic network as a [`LayerStack`]: the walks start at layer 0
/// with stack arrays of the widths `IN` and `OUT` at the ends.
#[derive(Debug)]
pub(super) struct Walk<'a, const IN: usize, const OUT: usize, N>(pub(super) &'a N);

impl<const IN: usize, const OUT: usize, N: Network<IN, OUT>> LayerStack<N::Workspace>
    for Walk<'_, IN, OUT, N>
{
    type Grad = N;

    #[inline(always)]
    fn layer_count(&self) -> usize {
        N::DEPTH
    }

    #[inline(always)]
    fn input_width(&self) -> usize {
        IN
    }

    #[inline(always)]
    fn output_width(&self) -> usize {
        OUT
    }

    #[inline(always)]
    fn output_of<'c>(&self, cache: &'c N::Workspace) -> &'c [f32] {
        N::output(TOKEN, cache)
    }

    #[inline(always)]
    fn walk_up<V: UpPass>(&self, cache: &mut N::Workspace, pass: &mut V) -> Result<(), Error> {
        self.0.walk_up_from(TOKEN, 0, cache, None, pass);
        Ok(())
    }

    #[inline(always)]
    fn walk_down<V: DownPass>(
        &self,
        cache: &mut N::Workspace,
        grad: Option<&mut N>,
        seed: Seed<'_>,
        pass: &mut V,
    ) -> Result<(), Error> {
        let mut v = [0.0; OUT];
        seed.write(&mut v);
        if V::MATRIX {
            let mut m = [[0.0; OUT]; OUT];
            let top = Carry {
                v: &mut v,
                m: m.as_flattened_mut(),
            };
            self.0
                .walk_down_from(TOKEN, 0, cache, None, grad, top, None, pass);
        } else {
            let top = Carry {
                v: &mut v,
                m: &mut [],
            };
            self.0
                .walk_down_from(TOKEN, 0, cache, None, grad, top, None, pass);
        }
        Ok(())
    }

    #[inline(always)]
    fn walk_back<V: BackPass>(
        &self,
        cache: &N::Workspace,
        grad: &mut N,
        seed: Seed<'_>,
        pass: &mut V,
    ) -> Result<(), Error> {
        let mut g = [0.0; OUT];
        seed.write(&mut g);
        self.0
            .walk_back_from(TOKEN, 0, cache, grad, &mut g, None, pass);
        Ok(())
    }
}

//! The walks of a [`DynMlp`] over its layers: the traversal the core's
//! passes run on, with vectors between layers.

use super::{DynCache, DynMlp, LayerValues};
use noisereg::{
    BackPass, Below, Carry, DownPass, Error, LayerCache, LayerGrad, LayerStack, Seed, UpPass,
};

impl LayerValues {
    fn slices(&mut self) -> LayerCache<'_> {
        LayerCache {
            x: &mut self.x,
            z: &mut self.z,
            a: &mut self.a,
            g: &mut self.g,
            delta: &mut self.delta,
            rz: &mut self.rz,
            ra: &mut self.ra,
        }
    }

    fn below(&self) -> Below<'_> {
        Below {
            a: &self.a,
            ra: &self.ra,
        }
    }

    /// Whether the vectors have the widths `n_in → n_out`.
    fn fits(&self, n_in: usize, n_out: usize) -> bool {
        let outs = [&self.z, &self.a, &self.g, &self.delta, &self.rz, &self.ra];
        self.x.len() == n_in && outs.iter().all(|v| v.len() == n_out)
    }
}

/// A zeroed carry of width `w` (with a `w×w` matrix for passes that carry one).
fn carry<V: DownPass>(w: usize) -> (Vec<f32>, Vec<f32>) {
    (vec![0.0; w], vec![0.0; if V::MATRIX { w * w } else { 0 }])
}

impl DynMlp {
    /// `Ok` when `cache` has this network's layer widths.
    fn check_cache(&self, cache: &DynCache) -> Result<(), Error> {
        super::check(cache.layers.len(), self.depth())?;
        let mut layers = cache.layers.iter().zip(self.sizes.windows(2));
        if layers.all(|(c, w)| c.fits(w[0], w[1])) {
            Ok(())
        } else {
            Err(Error::LengthMismatch {
                left: cache.layers.iter().map(|c| c.x.len() + 6 * c.a.len()).sum(),
                right: self.sizes.windows(2).map(|w| w[0] + 6 * w[1]).sum(),
            })
        }
    }

    /// `Ok` when `grad` has this network's shape.
    fn check_grad(&self, grad: &Self) -> Result<(), Error> {
        if grad.sizes == self.sizes {
            Ok(())
        } else {
            Err(Error::LengthMismatch {
                left: grad.params.iter().map(Vec::len).sum(),
                right: self.params.iter().map(Vec::len).sum(),
            })
        }
    }

    /// Layer `l`'s weight and bias gradients (shape checked by the caller).
    fn layer_grad(&mut self, l: usize) -> LayerGrad<'_> {
        let (w, b) = self.params.split_at_mut(2 * l + 1);
        LayerGrad {
            w: &mut w[2 * l],
            b: &mut b[0],
        }
    }
}

impl LayerStack<DynCache> for DynMlp {
    type Grad = DynMlp;

    fn layer_count(&self) -> usize {
        self.depth()
    }

    fn input_width(&self) -> usize {
        self.inputs()
    }

    fn output_width(&self) -> usize {
        self.outputs()
    }

    fn output_of<'c>(&self, cache: &'c DynCache) -> &'c [f32] {
        cache.layers.last().map_or(&[], |c| &c.a)
    }

    fn walk_up<V: UpPass>(&self, cache: &mut DynCache, pass: &mut V) -> Result<(), Error> {
        self.check_cache(cache)?;
        for l in 0..self.depth() {
            let (lo, hi) = cache.layers.split_at_mut(l);
            let mut row = vec![0.0; self.sizes[l]];
            let below = lo.last().map(LayerValues::below);
            pass.layer(l, self.layer(l), hi[0].slices(), below, &mut row);
        }
        Ok(())
    }

    fn walk_down<V: DownPass>(
        &self,
        cache: &mut DynCache,
        mut grad: Option<&mut DynMlp>,
        seed: Seed<'_>,
        pass: &mut V,
    ) -> Result<(), Error> {
        self.check_cache(cache)?;
        if let Some(g) = &grad {
            self.check_grad(g)?;
        }
        let mut above = carry::<V>(self.outputs());
        seed.write(&mut above.0);
        for l in (0..self.depth()).rev() {
            let mut beneath = (l > 0).then(|| carry::<V>(self.sizes[l]));
            let mut scratch = vec![0.0; self.sizes[l + 1]];
            let (lo, hi) = cache.layers.split_at_mut(l);
            let below = lo.last().map(LayerValues::below);
            let lg = grad.as_deref_mut().map(|g| g.layer_grad(l));
            let top = Carry {
                v: &mut above.0,
                m: &mut above.1,
            };
            let under = beneath.as_mut().map(|(v, m)| Carry { v, m });
            let c = hi[0].slices();
            pass.layer(l, self.layer(l), c, below, lg, top, under, &mut scratch);
            if let Some(b) = beneath {
                above = b;
            }
        }
        Ok(())
    }

    fn walk_back<V: BackPass>(
        &self,
        cache: &DynCache,
        grad: &mut DynMlp,
        seed: Seed<'_>,
        pass: &mut V,
    ) -> Result<(), Error> {
        self.check_cache(cache)?;
        self.check_grad(grad)?;
        let mut g = vec![0.0; self.outputs()];
        seed.write(&mut g);
        for (l, c) in cache.layers.iter().enumerate().rev() {
            let mut gx = (l > 0).then(|| vec![0.0; self.sizes[l]]);
            let mut row = vec![0.0; self.sizes[l]];
            let xza = [&c.x[..], &c.z, &c.a];
            let gxs = gx.as_deref_mut();
            pass.layer(
                l,
                self.layer(l),
                xza,
                grad.layer_grad(l),
                &mut g,
                gxs,
                &mut row,
            );
            if let Some(gx) = gx {
                g = gx;
            }
        }
        Ok(())
    }
}

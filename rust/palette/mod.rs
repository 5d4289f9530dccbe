//! Colour palettes: find K colours for a set of images, and map images onto a palette.
//!
//! Data flow: `histogram` (a weighted colour grid of the images) -> `seeding` (median cut or k-means++) -> `kmeans`
//! (weighted Lloyd iterations, then an exact step on the pixels) -> a palette; then `remap` (exact nearest colour,
//! through a grid of candidate lists) or `dither` (error diffusion or ordered) maps each pixel to an index; error
//! diffusion runs on all cores in the schedule of `pipeline`.
//! `color_space` gives the points distances are measured between (sRGB or Oklab). `alpha` is the same pipeline for
//! images with transparency: RGBA palettes in premultiplied space, with its own histogram, clustering and mapping.
//!
//! Imports within the part go one way: `histogram`, `color_space` and `pipeline` use nothing here; `seeding`
//! nothing; `remap` uses `histogram` and `color_space`; `kmeans` uses those and `remap`; `dither` uses `remap` and
//! `pipeline`; `alpha` uses `color_space`, `pipeline` and `dither` (its `Dither`, the one spelling of the dithering
//! kinds).

pub mod alpha;
pub mod color_space;
pub mod dither;
pub mod histogram;
pub mod kmeans;
pub mod pipeline;
pub mod remap;
pub mod seeding;

//! Colour palettes: find K colours for a set of images, and map images onto a palette.
//!
//! Data flow: `histogram` (a weighted colour grid of the images) -> `seeding` (median cut or k-means++) -> `kmeans`
//! (weighted Lloyd iterations, then an exact step on the pixels) -> a palette; then `remap` (exact nearest colour,
//! through a grid of candidate lists) or `dither` (error diffusion or ordered) maps each pixel to an index.
//! `color_space` gives the points distances are measured between (sRGB or Oklab). `alpha` is the same pipeline for
//! images with transparency: RGBA palettes in premultiplied space, with its own histogram, clustering and mapping.
//!
//! Imports within the part go one way: `histogram` and `color_space` use nothing here; `seeding` nothing;
//! `remap` uses `histogram` and `color_space`; `kmeans` uses those and `remap`; `dither` uses `remap`; `alpha` uses
//! `color_space` and `dither` (its `Dither`, the one spelling of the dithering kinds).

pub mod alpha;
pub mod color_space;
pub mod dither;
pub mod histogram;
pub mod kmeans;
pub mod remap;
pub mod seeding;

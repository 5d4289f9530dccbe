//! The schedule of parallel error diffusion: diagonal strips, pipelined across the pool's threads.
//!
//! Pixel (x, y) belongs to strip (x + y) / `strip`: the strips are parallelograms whose sides slant one column left
//! per row. Error diffusion (Floyd-Steinberg, Atkinson) gives a pixel error only from its left in its row and from up
//! to one column right in the rows above, so from its own strip and the one on its left, never from a strip on its
//! right: the strips form a pipeline. Strip k starts row y once strip k - 1 has finished it, and nothing else; each
//! task takes the next strip not yet taken, so a core that falls behind (a run of slow pixels, a moment lost to the
//! system) only delays the strips after it, and the other core goes on as far as a strip's whole height ahead. Any
//! number of tasks finishes: the lowest strip not finished is always running (its left neighbour is finished),
//! whichever of the tasks the pool runs and whenever.
//!
//! What a diffusion must do on its side (`dither.rs`, `alpha.rs`): the sequential loop adds each error share into
//! its target slot in the order the sources are visited, and float addition is not associative, so the strips must
//! add them in that same order. A slot (x, y) receives, in raster order: from row y-2 (Atkinson: pixel x), then from
//! row y-1 (pixels x-1, x, x+1, left to right), then from row y (pixels x-2, x-1). Shares from rows above go into
//! per-row buffers; shares from the same row are kept apart and added after the buffer's value, left to right. The
//! pipeline keeps that order: the sources of a slot lie on the target's diagonal or the two before it, in raster
//! order within a strip and in an earlier strip (finished further down) otherwise. For the same reason `RING` rows
//! of buffers are enough: a slot is written again, three rows on, only by pixels that come after the one that read
//! it (and zeroed it). Values travel in relaxed atomics; the progress counters' release/acquire order them.
//!
//! Before this, vertical strips one thread each, with seams slanting for a band of rows and jumping back: a strip
//! waited on its right neighbour once a band, and the two cores kept stalling each other (1.5x to 1.7x on two cores
//! where this gives 1.8x to 1.9x).

use crate::alloc::{collect, with_capacity};
use crate::error::Result;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Columns a strip has in each row with more than one thread: narrower ones pass more cache lines between the
/// cores, wider ones leave a core idle longer at the image's end.
const STRIP: usize = 64;

/// Rows of error a diffusion keeps per column (see the module's notes).
pub const RING: usize = 3;

/// A strip's progress, the rows it has finished, on a cache line of its own: written by one thread, polled by
/// another.
#[repr(align(64))]
#[derive(Default)]
struct Progress(AtomicUsize);

/// The strip width for `threads` threads: with one, a single strip, the whole image in raster order.
pub fn strip_for(threads: usize) -> usize {
    if threads > 1 {
        STRIP
    } else {
        usize::MAX
    }
}

/// The strips of an image `width` x `height` pixels, `strip` columns wide.
struct Strips {
    width: usize,
    height: usize,
    strip: usize,
}

impl Strips {
    fn count(&self) -> usize {
        (self.width + self.height - 2) / self.strip + 1
    }

    /// The rows in which strip `k` has pixels.
    fn rows(&self, k: usize) -> std::ops::Range<usize> {
        let first = (k * self.strip + 1).saturating_sub(self.width);
        first.min(self.height)..((k + 1) * self.strip).min(self.height)
    }

    /// The columns of strip `k` in row `y` (empty where it has none).
    fn columns(&self, k: usize, y: usize) -> (usize, usize) {
        let x1 = ((k + 1) * self.strip).saturating_sub(y).min(self.width);
        ((k * self.strip).saturating_sub(y).min(x1), x1)
    }
}

/// Row y's values x0.. that one strip holds: `(y, x0, values)`.
type Piece<'a, T> = (usize, usize, &'a mut [T]);

/// Runs `row(y, x0, piece)` for every piece of the rows of `out` (`width` values a row): the values x0.. of row y
/// that one strip holds, in strips `strip` columns wide (at least 2: a same-row share reaches two pixels to the
/// right, so into the next strip only) on `threads` tasks of the pool, in the pipeline's order.
pub fn run<T: Send>(
    out: &mut [T],
    width: usize,
    threads: usize,
    strip: usize,
    row: &(dyn Fn(usize, usize, &mut [T]) + Sync),
) -> Result<()> {
    if width == 0 || out.is_empty() {
        return Ok(());
    }
    let height = out.len() / width;
    let layout = Strips { width, height, strip: strip.clamp(2, width + height) };
    let count = layout.count();
    // Each strip's pieces of the rows, taken by the task that runs it.
    let mut pieces: Vec<Vec<Piece<T>>> = with_capacity(count)?;
    for k in 0..count {
        pieces.push(with_capacity(layout.rows(k).len())?);
    }
    for (y, r) in out.chunks_mut(width).enumerate() {
        let mut rest = r;
        for (k, piece) in pieces.iter_mut().enumerate().skip(y / layout.strip) {
            let (x0, x1) = layout.columns(k, y);
            let n = (x1 - x0).min(rest.len());
            let (a, b) = std::mem::take(&mut rest).split_at_mut(n);
            piece.push((y, x0, a));
            rest = b;
            if rest.is_empty() {
                break;
            }
        }
    }
    let pieces: Vec<Mutex<Vec<Piece<T>>>> = collect(pieces.into_iter().map(Mutex::new))?;
    let progress: Vec<Progress> = collect((0..count).map(|_| Progress::default()))?;
    let next = AtomicUsize::new(0);
    let task = || loop {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let Some(cell) = pieces.get(k) else { return };
        // Each strip is taken once, so its lock is never contended (and never poisoned: nothing panics holding it).
        let rows = cell.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default();
        let (left, mine) = (k.checked_sub(1).and_then(|l| progress.get(l)), progress.get(k));
        for (y, x0, piece) in rows {
            if let Some(l) = left {
                wait(l, y + 1);
            }
            row(y, x0, piece);
            if let Some(m) = mine {
                m.0.store(y + 1, Ordering::Release);
            }
        }
        // Done: a strip on the right that goes on below this one's last row waits for nothing more from it.
        if let Some(m) = mine {
            m.0.store(usize::MAX, Ordering::Release);
        }
    };
    rayon::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|_| task());
        }
    });
    Ok(())
}

/// Waits until `counter` reaches `target`.
fn wait(counter: &Progress, target: usize) {
    let mut spins = 0u32;
    while counter.0.load(Ordering::Acquire) < target {
        spins += 1;
        if spins < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pixel_once_after_its_dependencies() {
        // Each pixel records the order it ran in; a pixel must come after its left neighbour in the row and after
        // the pixels x-1, x, x+1 of the row above (what error diffusion reads).
        let pools: Vec<rayon::ThreadPool> =
            [1, 2, 5].iter().map(|&n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap()).collect();
        for (w, h) in [(1, 1), (1, 7), (7, 1), (5, 9), (130, 40), (40, 130)] {
            for (pool, tasks) in pools.iter().zip([3, 2, 5]) {
                for strip in [2, 3, 64, usize::MAX] {
                    let clock = AtomicUsize::new(1);
                    let mut order = vec![0usize; w * h];
                    let stamp = |_y: usize, _x0: usize, piece: &mut [usize]| {
                        for v in piece.iter_mut() {
                            *v = clock.fetch_add(1, Ordering::SeqCst);
                        }
                    };
                    pool.install(|| run(&mut order, w, tasks, strip, &stamp)).unwrap();
                    let at = |x: usize, y: usize| order[y * w + x];
                    for y in 0..h {
                        for x in 0..w {
                            assert!(at(x, y) > 0, "{w}x{h} strip {strip}: ({x}, {y}) not run");
                            if x > 0 {
                                assert!(at(x, y) > at(x - 1, y), "{w}x{h} strip {strip}: ({x}, {y})");
                            }
                            for dx in [-1isize, 0, 1] {
                                let xa = x as isize + dx;
                                if y > 0 && (0..w as isize).contains(&xa) {
                                    assert!(at(x, y) > at(xa as usize, y - 1), "{w}x{h} strip {strip}: ({x}, {y})");
                                }
                            }
                        }
                    }
                    let mut sorted = order.clone();
                    sorted.sort_unstable();
                    sorted.dedup();
                    assert_eq!(sorted.len(), w * h, "{w}x{h} strip {strip}: a pixel ran twice");
                }
            }
        }
    }
}

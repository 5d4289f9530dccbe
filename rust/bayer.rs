//! The Bayer index matrix of ordered dithering, shared by bit-depth reduction (`quantize::dither`) and palettes
//! (`palette::dither`). Imports nothing.

/// The `n` x `n` Bayer index matrix (`n` a power of two), values `0..n^2`, row-major.
pub fn bayer(n: usize) -> Vec<u32> {
    let mut m = vec![0u32];
    let mut size = 1;
    while size < n {
        let mut next = vec![0u32; 4 * size * size];
        for y in 0..size {
            for x in 0..size {
                let v = 4 * m[y * size + x];
                next[y * 2 * size + x] = v;
                next[y * 2 * size + x + size] = v + 2;
                next[(y + size) * 2 * size + x] = v + 3;
                next[(y + size) * 2 * size + x + size] = v + 1;
            }
        }
        m = next;
        size *= 2;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bayer_is_a_permutation() {
        for n in [2, 4, 8] {
            let mut m = bayer(n);
            m.sort();
            assert_eq!(m, (0..(n * n) as u32).collect::<Vec<_>>());
        }
        assert_eq!(bayer(2), vec![0, 2, 3, 1]);
    }
}

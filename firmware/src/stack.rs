//! Peak stack use, measured by painting: fill the free stack with a pattern
//! before the work, then find the lowest word the work overwrote.

/// What the unused stack is filled with.
const PAINT: u32 = 0xa5a5_a5a5;

/// Bytes left unpainted below the stack pointer read in [`paint`]: the
/// compiler may read it before pushing the function's own frame.
const MARGIN: usize = 64;

unsafe extern "C" {
    /// Lowest address the stack may grow to (end of `.bss`/`.uninit`), from cortex-m-rt's `link.x`.
    static _stack_end: u32;
    /// Initial stack pointer, one past the highest stack word.
    static _stack_start: u32;
}

fn bounds() -> (*mut u32, *mut u32) {
    (
        (&raw const _stack_end).cast_mut(),
        (&raw const _stack_start).cast_mut(),
    )
}

/// Size of the stack region in bytes.
pub fn size() -> usize {
    let (low, high) = bounds();
    high as usize - low as usize
}

/// Paints every stack word more than [`MARGIN`] bytes below the caller's frame.
///
/// Must be called with interrupts unused: words below the stack pointer are
/// free only when nothing else can push onto the stack.
#[inline(never)]
pub fn paint() {
    let (low, _) = bounds();
    let sp = (cortex_m::register::msp::read() as usize).saturating_sub(MARGIN);
    let mut p = low;
    while (p as usize) < sp {
        // SAFETY: `p` lies in `[_stack_end, sp)`: stack memory well below the
        // stack pointer, which nothing uses (no interrupts enabled).
        unsafe { p.write_volatile(PAINT) };
        p = p.wrapping_add(1);
    }
}

/// Bytes between the top of the stack and the lowest word no longer painted.
pub fn high_water() -> usize {
    let (low, high) = bounds();
    let mut p = low;
    // SAFETY: `p` stays in `[_stack_end, _stack_start)`, RAM set aside for the stack.
    while p < high && unsafe { p.read_volatile() } == PAINT {
        p = p.wrapping_add(1);
    }
    high as usize - p as usize
}

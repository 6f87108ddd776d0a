package org.dmashare.dmaapi;

/** The allocation contexts that decide a coherent allocation's path (Linux gfp flags). */
public enum Gfp {
    /** {@code GFP_KERNEL}: may block, so coherent allocations take the remap (page array) path. */
    KERNEL(true),
    /** {@code GFP_ATOMIC}: may not block; contiguous path (atomic pool for non-coherent devices). */
    ATOMIC(false);

    private final boolean blocking;

    Gfp(boolean blocking) {
        this.blocking = blocking;
    }

    /**
     * Whether the allocation may sleep ({@code gfpflags_allow_blocking}).
     *
     * @return true for {@link #KERNEL}
     */
    public boolean allowsBlocking() {
        return blocking;
    }
}

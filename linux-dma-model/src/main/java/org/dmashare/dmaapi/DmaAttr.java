package org.dmashare.dmaapi;

/** DMA attributes the model honours (Linux {@code DMA_ATTR_*}). */
public enum DmaAttr {
    /** Coherent allocation must be physically contiguous: contiguous path even when blocking. */
    FORCE_CONTIGUOUS,
    /** Remap path: build the buffer from minimum-size blocks only. */
    ALLOC_SINGLE_PAGES,
    /** No cache maintenance on map/unmap (the model does none anyway; accepted for fidelity). */
    SKIP_CPU_SYNC
}

package org.dmashare.iommu;

import org.dmashare.Hex;

/**
 * The result of a hardware-side walk of the page tables for one IOVA: the physical address it
 * reaches and the leaf that maps it.
 *
 * <p>A leaf may restrict device access to a byte window inside it (sub-page protection, as Apple
 * DART PTEs can); {@code windowStart} and {@code windowEnd} give that window as IOVAs. Without
 * such a restriction the window is the whole leaf.
 *
 * @param iova the translated IOVA
 * @param pa the physical address of that byte
 * @param pageSize size of the leaf (page or block) that maps it
 * @param prot rights the leaf grants
 * @param windowStart first IOVA of the leaf that devices may access
 * @param windowEnd one past the last IOVA of the leaf that devices may access
 */
public record Translation(long iova, long pa, long pageSize, Prot prot, long windowStart, long windowEnd) {

    /**
     * A translation whose leaf may be accessed in full (no sub-page window).
     *
     * @param iova the translated IOVA
     * @param pa the physical address of that byte
     * @param pageSize size of the leaf (a power of two)
     * @param prot rights the leaf grants
     */
    public Translation(long iova, long pa, long pageSize, Prot prot) {
        this(iova, pa, pageSize, prot, iova & -pageSize, (iova & -pageSize) + pageSize);
    }

    /**
     * Whether every byte of {@code [from, from + length)} lies inside the access window.
     *
     * @param from first IOVA accessed
     * @param length bytes accessed, at least 1
     * @return true if the whole access is inside the window
     */
    public boolean windowAllows(long from, long length) {
        return from >= windowStart && length <= windowEnd - from;
    }

    /**
     * Whether the leaf restricts access to part of itself.
     *
     * @return true if the window is smaller than the leaf
     */
    public boolean hasSubpageWindow() {
        return windowStart != (iova & -pageSize) || windowEnd != (iova & -pageSize) + pageSize;
    }

    @Override
    public String toString() {
        return Hex.of(iova) + " -> " + Hex.of(pa) + " (" + Hex.size(pageSize) + " leaf, " + prot
                + (hasSubpageWindow() ? ", window " + Hex.range(windowStart, windowEnd - windowStart) : "") + ")";
    }
}

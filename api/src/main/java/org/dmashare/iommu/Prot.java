package org.dmashare.iommu;

/**
 * Access rights and attributes of a mapping, as Linux's {@code IOMMU_READ}, {@code IOMMU_WRITE},
 * {@code IOMMU_CACHE} and {@code IOMMU_NOEXEC} flags.
 *
 * @param read devices may read
 * @param write devices may write
 * @param cache the mapping is cacheable (coherent)
 * @param noExec devices may not fetch instructions
 */
public record Prot(boolean read, boolean write, boolean cache, boolean noExec) {
    /** Read only. */
    public static final Prot READ = new Prot(true, false, false, false);
    /** Write only (not every format can express it). */
    public static final Prot WRITE = new Prot(false, true, false, false);
    /** Read and write. */
    public static final Prot READ_WRITE = new Prot(true, true, false, false);

    /**
     * The same rights, cacheable.
     *
     * @return a copy with {@code cache} set
     */
    public Prot withCache() {
        return new Prot(read, write, true, noExec);
    }

    /**
     * The same rights, not executable.
     *
     * @return a copy with {@code noExec} set
     */
    public Prot withNoExec() {
        return new Prot(read, write, cache, true);
    }

    /**
     * Whether this allows {@code access}.
     *
     * @param access a read or a write
     * @return true if permitted
     */
    public boolean allows(Access access) {
        return access == Access.READ ? read : write;
    }

    @Override
    public String toString() {
        return (read ? "R" : "-") + (write ? "W" : "-") + (cache ? "C" : "") + (noExec ? "N" : "");
    }
}

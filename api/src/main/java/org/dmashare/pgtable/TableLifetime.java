package org.dmashare.pgtable;

/**
 * When an unmap gives a table below the top back to the page allocator. Linux's formats differ
 * here; each {@link PteFormat} declares the one its Linux code follows, the engine implements it,
 * and the conformance kit checks the declared one. Whatever the lifetime, every table (top
 * included) is freed when the page table is closed ({@link IoPageTable#close()}, Linux's
 * free_pgtable), a table created by a map that fails is freed by that map's rollback, and a map
 * of a leaf over a table that maps nothing frees that table (and the empty tables below it), as
 * every Linux format replaces an empty table by a larger leaf. The top table is never freed
 * before close.
 */
public enum TableLifetime {
    /**
     * Unmap only clears leaves; tables stay, empty or not, until the page table is freed, so a
     * later map into the same range allocates nothing (io-pgtable-dart: dart_unmap_pages clears
     * leaf entries only, apple_dart_free_pgtable frees the tables).
     */
    UNTIL_FREED,
    /**
     * A table is freed, with every table below it, when one unmap covers the whole range of the
     * entry pointing at it and that entry's level maps blocks of exactly that size (the size is
     * in the format's page sizes, so Linux's IOMMU core hands the format an unmap of that block
     * size); an unmap covering only part of that range clears leaves and keeps the table, even
     * when it leaves it empty (io-pgtable-arm's __arm_lpae_unmap and io-pgtable-arm-v7s's
     * __arm_v7s_unmap free a table only when an unmap at the block size meets a table entry).
     */
    WHOLE_BLOCK,
    /**
     * A table is freed, with every table below it, when one unmap covers the whole range of the
     * entry pointing at it, at any level (Linux's generic page-table code, __unmap_range in
     * drivers/iommu/generic_pt/iommu_pt.h, frees a table that pt_item_fully_covered reports
     * fully covered; AMD-Vi v1 uses it).
     */
    WHOLE_RANGE
}

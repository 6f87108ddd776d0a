/**
 * The {@code arm-v7s} backend: an ARM v7 short-descriptor IOMMU (as the ARM SMMU and MediaTek
 * IOMMUs use through Linux's io-pgtable-arm-v7s), bit-exact to the descriptors Linux 6.13 and
 * later writes: 32-bit IOVA and physical addresses, 4-byte entries, a 16 KiB 4096-entry root of
 * 1 MiB sections and 16 MiB supersections, 1 KiB 256-entry level-2 tables of 4 KiB small pages
 * and 64 KiB large pages, large pages and supersections replicated over 16 entries. It is the
 * worked example of a format that is not LPAE-like: every departure is a {@link
 * org.dmashare.pgtable.PteFormat} hook, and the domain is a plain
 * {@link org.dmashare.iommu.support.PagingDomain}.
 *
 * <p>Locks: {@link org.dmashare.v7s.V7sIommu} guards its per-stream registers with its own
 * monitor, taken after (never around) a page table's lock.
 */
package org.dmashare.v7s;

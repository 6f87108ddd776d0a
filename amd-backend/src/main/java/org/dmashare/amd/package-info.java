/**
 * The {@code amd-v1} backend: AMD-Vi host (v1) page tables as Linux writes them, bit-exact: 4 KiB
 * granule, 512 eight-byte entries per table, modes 1 to 6, every page size Linux advertises (a size
 * between two levels' is a run of identical next-level-7 entries whose address bits encode the
 * size), a top that starts at mode 3 and grows as larger IOVAs are mapped, with each attached
 * device's device-table entry reprogrammed (root pointer and mode) before the new IOVA is used.
 *
 * <p>Locks: {@link org.dmashare.amd.AmdIommu} guards its device-table entries with its own
 * monitor. A page table's lock may be held when the unit's monitor is taken (a growing top
 * reprograms the device table from inside a map); the unit never takes a page table's lock while
 * holding its monitor (it reads the published root without it).
 */
package org.dmashare.amd;

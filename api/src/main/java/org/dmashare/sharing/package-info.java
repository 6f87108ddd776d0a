/**
 * The safe helper: {@link org.dmashare.sharing.DmaSharing} allocates pages aligned to the largest
 * granule of every domain involved and maps them into each domain at one contiguous IOVA range,
 * returning a {@link org.dmashare.sharing.SharedBuffer}; {@link org.dmashare.sharing.ScatterList}
 * describes physical segments for import and inspection.
 *
 * <p>A shared buffer guarantees: one contiguous IOVA range per domain translating to its own
 * bytes in order; alignment of every IOVA, physical block and length to the alignment A; no
 * device-reachable byte outside its own blocks; atomic allocation, late sharing and import; safe
 * release (unmap and IOTLB flush everywhere before pages are freed); late sharing into domains
 * whose granule divides A; optionally the same IOVA in every domain; import only of scatter lists
 * aligned to A; and use from many threads.
 */
package org.dmashare.sharing;

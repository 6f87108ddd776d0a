/**
 * The {@code apple-dart} IOMMU backend: Apple's Device Address Resolution Table as the Linux
 * {@code apple-dart} driver and Asahi Linux drive it. {@link org.dmashare.dart.DartBackend}
 * creates {@link org.dmashare.dart.DartIommu}s of the variants in
 * {@link org.dmashare.dart.DartVariant} (t8020, t6000, t8110); their page tables use the
 * {@link org.dmashare.dart.Dart1Format} or {@link org.dmashare.dart.Dart2Format} entry layout over
 * the shared {@link org.dmashare.pgtable} engine; {@link org.dmashare.dart.DartDomain} adds
 * sub-page protection; {@link org.dmashare.dart.DartDump} writes and reads the register and table
 * dump; {@link org.dmashare.dart.DartFirmware} builds the state boot firmware leaves in a locked
 * DART.
 *
 * <h2>Locks</h2>
 * <ul>
 *   <li><b>unit</b>: each {@link org.dmashare.dart.DartIommu}'s monitor guards its register file
 *       and the locked-DART bookkeeping (which firmware root entries the driver wrote). Every
 *       register read and write, attach, invalidation, reset, error acknowledgement, fault
 *       latching, dump and firmware restore holds it. Inside it the DART takes only the IOTLB's
 *       lock (when an invalidation command runs) and reads or writes table memory, which needs no
 *       lock; the hardware walk copies the stream's registers under it and walks the tables after
 *       releasing it.</li>
 *   <li><b>page table</b>: a {@link org.dmashare.dart.DartDomain} holds its table's
 *       {@link org.dmashare.pgtable.IoPageTable#lock() lock} around a sub-page map (the engine's
 *       map, then narrowing the new leaves) and around finding a leaf entry, so no other map or
 *       unmap of that table runs in between. It never takes the unit lock inside it.</li>
 * </ul>
 * <p>Order, as in {@link org.dmashare.iommu}: page table (or IOVA allocator), then unit, then
 * IOTLB. A domain is created with the unit lock taken and released (to read the firmware's
 * ranges) before its IOVA allocator reserves them, so the two are never held together.
 *
 * <h2>Assumptions where the hardware reference is unconfirmed</h2>
 * <ul>
 *   <li>Sub-page windows: 4-byte units, SP_END inclusive; an access must lie wholly inside the
 *       window. The permission check comes before the window check.</li>
 *   <li>Validity: the hardware looks at bit 0 only.</li>
 *   <li>ERROR: one code bit per fault; the first error stays latched until acknowledged (later
 *       faults are only logged); ERROR_ADDR holds the faulting IOVA (for a DMA spanning pages, the
 *       first byte of the access within the faulting page). t8020's "access was a write" bit 10
 *       and t8110's WRITE_nREAD bit 28 are not modelled. t8110 ERROR_STREAMS is a per-stream
 *       error bitmap, write-1-to-clear.</li>
 *   <li>A blocked stream (TCR neither translating nor bypassing, or its stream-enable bit clear)
 *       and an IOVA beyond the walk's reach (2^38 on t8020/t6000, 2^36 or 2^47 on t8110; m1n1
 *       instead truncates the IOVA) report NO_TTBR.</li>
 *   <li>t8110 has no known sub-page error bit: a sub-page violation there sets WRITE_FAULT or
 *       READ_FAULT by access direction (the fault log still says SUBPAGE_PROT).</li>
 *   <li>t8020/t6000 have 16 streams (Linux; m1n1's C code says 32). t8110 defaults to 256 streams,
 *       ias 36 and oas 42 (real PARAMS3 widths unknown).</li>
 *   <li>Invalidation commands complete at once (BUSY reads clear); STREAM_SELECT beyond 32
 *       streams is not needed with 16.</li>
 *   <li>Locked DARTs: the lock is sticky (t8110: PROTECT can be cleared through UNPROTECT until
 *       PROTECT_LOCK is written; restore writes both). Writes to TCR/TTBR are ignored while
 *       locked. Only the driver's own root entries are copied into the firmware's table (see
 *       {@link org.dmashare.dart.DartIommu}).</li>
 * </ul>
 */
package org.dmashare.dart;

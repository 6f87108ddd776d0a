package org.dmashare.dart;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.internal.GuardedBy;
import org.dmashare.iommu.Access;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.support.AbstractIommu;
import org.dmashare.iommu.support.BaseDomain;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.PageTableWalker;

/**
 * One Apple DART: a register file (MMIO model) and the hardware behind it. The driver side
 * (attach, flush, reset, error handling) only writes and reads registers, as Linux's
 * {@code apple-dart} driver does; the hardware side walks the tables from the TCR and TTBR
 * registers of the stream, never from a software object.
 *
 * <p><b>Layouts as data.</b> Where each register sits and what its bits mean is one
 * {@code DartLayout} per register layout (t8020, shared by t8020 and t6000; t8110), as Linux's
 * per-compatible hardware table; this class and its parts read it instead of branching on the
 * variant. The constants below name the same offsets and bits for callers. The work is split by
 * job: this class is the driver (attach, invalidation, reset, error handling, locking); the
 * register file models what writes do; the walk turns a stream's register values into a
 * translation or a fault; the locked-table sync keeps a locked DART's firmware root table in step;
 * the dumper writes and checks {@link DartDump}s.
 *
 * <p><b>Registers.</b> t8020 layout (t8020, t6000): STREAM_COMMAND 0x20, STREAM_SELECT 0x34,
 * ERROR 0x40, ERROR_ADDR 0x50/0x54, CONFIG 0x60 (bit 15 LOCK), ENABLED_STREAMS 0xfc, TCR 0x100 +
 * 4·sid, TTBR 0x200 + 16·sid + 4·i (i = 0..3; value {@code 0x8000_0000 | PA >> 12}). t8110 layout:
 * PARAMS3/4 0x08/0x0c, TLB_CMD 0x80, ERROR 0x100, ERROR_MASK 0x104, ERROR_ADDR 0x170/0x174,
 * ERROR_STREAMS 0x1c0.., PROTECT 0x200, ENABLE_STREAMS 0xc00.., DISABLE_STREAMS 0xc20.., TCR
 * 0x1000 + 4·sid, TTBR 0x1400 + 4·sid (value {@code (PA >> 14) << 2 | 1}). Writes to TCR and TTBR are
 * ignored while the DART is locked.
 *
 * <p><b>Walk.</b> t8020 layout: IOVA bits 37:36 select one of the stream's four TTBRs, each
 * pointing at an L1 table (bits 35:25) of L2 tables (bits 24:14). t8110: the one TTBR points at
 * the L1 table, or with TCR.FOUR_LEVEL at an L0 table (bits 46:36). A stream whose stream-enable
 * bit is clear, or whose TCR neither translates nor bypasses, is blocked. Entries are valid when
 * bit 0 is set; leaves carry a sub-page window that the device path enforces. The tables are
 * walked by the shared {@link PageTableWalker}, as every backend's are.
 *
 * <p><b>Faults.</b> Each faulting access is logged and latched into ERROR (FLAG bit 31, stream
 * field, one {@link DartErrorCode} bit) and ERROR_ADDR (the IOVA) unless an earlier error is
 * still pending (assumption, UNCONFIRMED: the first error is kept until acknowledged). ERROR is
 * write-1-to-clear; {@link #acknowledgeError()} does what the Linux interrupt handler does.
 *
 * <p><b>Invalidation.</b> t8020 layout: the SID bitmap goes into STREAM_SELECT and INVALIDATE into
 * STREAM_COMMAND, which drops the IOTLB entries of every selected stream; t8110: one TLB_CMD
 * write (op 1, flush SID) per stream, or op 0 to flush all. The command completes at once (BUSY
 * reads clear).
 *
 * <p><b>Locked DARTs</b> (created by {@link DartBackend#restore}): TTBR and TCR were programmed by
 * the firmware and cannot be changed; reset, identity and blocked domains are refused. A paging
 * domain keeps its own root table, and on attach and every IOTLB flush its valid root entries are
 * copied into the firmware's root table for each attached stream (as the Asahi driver does). Unlike
 * Asahi, which copies the whole root table and relies on the firmware's ranges being re-created in
 * its own table from device-tree reserved regions, this model copies only the domain's own entries
 * and clears only those it copied, so the firmware's mappings stay intact; a domain never maps
 * inside a root entry the firmware owns (those IOVA ranges are reserved in its allocator).
 *
 * <p><b>Thread-safe.</b> One lock, this object's monitor (the unit lock), guards the registers,
 * the locked-table bookkeeping and the dump; it is taken by every register access, by attach
 * (through {@link AbstractIommu}), invalidation and fault latching. While holding it this class
 * takes only the IOTLB's lock (an executed invalidation command) and reads table memory, which
 * needs no lock; the hardware walk reads the registers under it and walks the tables after
 * releasing it. See the package documentation for the order.
 */
public final class DartIommu extends AbstractIommu {
    /** PARAMS1: bits 27:24 log2 of the page size. */
    public static final int PARAMS1 = 0x00;
    /** PARAMS2: bit 0 bypass supported. */
    public static final int PARAMS2 = 0x04;

    /** t8020 layout: STREAM_COMMAND. */
    public static final int T8020_STREAM_COMMAND = 0x20;
    /** t8020 layout: STREAM_COMMAND bit 20, invalidate the selected streams' TLB entries. */
    public static final int T8020_STREAM_COMMAND_INVALIDATE = 1 << 20;
    /** t8020 layout: STREAM_COMMAND bit 2, command in progress. */
    public static final int T8020_STREAM_COMMAND_BUSY = 1 << 2;
    /** t8020 layout: STREAM_SELECT, bitmap of the streams a command applies to. */
    public static final int T8020_STREAM_SELECT = 0x34;
    /** t8020 layout: ERROR. */
    public static final int T8020_ERROR = 0x40;
    /** t8020 layout: ERROR_ADDR_LO (ERROR_ADDR_HI follows at +4). */
    public static final int T8020_ERROR_ADDR_LO = 0x50;
    /** t8020 layout: CONFIG. */
    public static final int T8020_CONFIG = 0x60;
    /** t8020 layout: CONFIG bit 15, TTBR/TCR locked. */
    public static final int T8020_CONFIG_LOCK = 1 << 15;
    /** t8020 layout: ENABLED_STREAMS bitmap. */
    public static final int T8020_ENABLED_STREAMS = 0xfc;
    /** t8020 layout: TCR of stream 0 (stride 4). */
    public static final int T8020_TCR = 0x100;
    /** t8020 layout: TTBR 0 of stream 0 (stride 16 per stream, 4 per TTBR). */
    public static final int T8020_TTBR = 0x200;
    /** t8020 layout TCR bit 7: translate. */
    public static final int T8020_TCR_TRANSLATE_ENABLE = 1 << 7;
    /** t8020 layout TCR bit 8: bypass the DART. */
    public static final int T8020_TCR_BYPASS_DART = 1 << 8;
    /** t8020 layout TCR bit 12: bypass the DAPF. */
    public static final int T8020_TCR_BYPASS_DAPF = 1 << 12;
    /** t8020 layout TTBR bit 31: valid. */
    public static final int T8020_TTBR_VALID = 1 << 31;

    /** t8110: PARAMS3 (29:24 PA width, 21:16 VA width). */
    public static final int T8110_PARAMS3 = 0x08;
    /** t8110: PARAMS4 (8:0 number of streams). */
    public static final int T8110_PARAMS4 = 0x0c;
    /** t8110: TLB_CMD (bit 31 busy, 10:8 op, 7:0 stream). */
    public static final int T8110_TLB_CMD = 0x80;
    /** t8110 TLB_CMD op 0: flush all streams. */
    public static final int T8110_TLB_CMD_OP_FLUSH_ALL = 0;
    /** t8110 TLB_CMD op 1: flush one stream. */
    public static final int T8110_TLB_CMD_OP_FLUSH_SID = 1;
    /** t8110: ERROR. */
    public static final int T8110_ERROR = 0x100;
    /** t8110: ERROR_MASK. */
    public static final int T8110_ERROR_MASK = 0x104;
    /** t8110: ERROR_ADDR_LO (ERROR_ADDR_HI follows at +4). */
    public static final int T8110_ERROR_ADDR_LO = 0x170;
    /** t8110: first of eight ERROR_STREAMS words. */
    public static final int T8110_ERROR_STREAMS = 0x1c0;
    /** t8110: PROTECT (bit 0: TTBR/TCR locked). */
    public static final int T8110_PROTECT = 0x200;
    /** t8110: UNPROTECT. */
    public static final int T8110_UNPROTECT = 0x204;
    /** t8110: PROTECT_LOCK. */
    public static final int T8110_PROTECT_LOCK = 0x208;
    /** t8110: first of eight ENABLE_STREAMS (set) words. */
    public static final int T8110_ENABLE_STREAMS = 0xc00;
    /** t8110: first of eight DISABLE_STREAMS (clear) words. */
    public static final int T8110_DISABLE_STREAMS = 0xc20;
    /** t8110: TCR of stream 0 (stride 4). */
    public static final int T8110_TCR = 0x1000;
    /** t8110: TTBR of stream 0 (stride 4). */
    public static final int T8110_TTBR = 0x1400;
    /** t8110 TCR bit 0: translate. */
    public static final int T8110_TCR_TRANSLATE_ENABLE = 1;
    /** t8110 TCR bit 1: bypass the DART. */
    public static final int T8110_TCR_BYPASS_DART = 1 << 1;
    /** t8110 TCR bit 2: bypass the DAPF. */
    public static final int T8110_TCR_BYPASS_DAPF = 1 << 2;
    /** t8110 TCR bit 3: four-level walk (an L0 table above L1). */
    public static final int T8110_TCR_FOUR_LEVEL = 1 << 3;
    /** t8110 TTBR bit 0: valid. */
    public static final int T8110_TTBR_VALID = 1;

    /** Bit 31 of ERROR on both layouts: an error is pending. */
    public static final int ERROR_FLAG = 1 << 31;

    private final DartVariant dartVariant;
    private final DartLayout layout;
    private final DartPteFormat format;
    private final boolean bypass;

    @GuardedBy("this")
    private final DartRegisterFile regs;
    /** The hardware walk; stateless, runs on register values read under this object's lock. */
    private final DartWalk hardware;

    @GuardedBy("this")
    private final DartLockedTables lockedTables;

    @GuardedBy("this")
    private final DartDumper dumper;

    DartIommu(
            DartVariant variant,
            String name,
            PhysicalMemory memory,
            int streams,
            int inputBits,
            int outputBits,
            boolean bypass,
            boolean resetAtProbe) {
        super(DartBackend.NAME, variant.spiVariant(), name, memory, streams, inputBits, outputBits);
        this.dartVariant = variant;
        this.layout = variant.layout();
        this.format = variant.format(inputBits, outputBits);
        this.bypass = bypass;
        this.regs = new DartRegisterFile(layout, streams, inputBits, outputBits, bypass, new DartRegisterFile.Iotlb() {
            @Override
            public void invalidate(int[] streamIds) {
                hardwareInvalidate(streamIds);
            }

            @Override
            public void invalidateAll() {
                hardwareInvalidateAll();
            }
        });
        this.hardware = new DartWalk(layout, memory, format);
        this.lockedTables = new DartLockedTables(regs, memory);
        this.dumper = new DartDumper(regs, memory, format);
        if (resetAtProbe) {
            reset();
        }
    }

    /** What an executed invalidation command does: drops the streams' IOTLB entries. */
    private void hardwareInvalidate(int[] streamIds) {
        super.invalidate(streamIds);
    }

    /** What an executed flush-all command does: drops every stream's IOTLB entries. */
    private void hardwareInvalidateAll() {
        super.flushIotlbAll();
    }

    /**
     * The variant modelled.
     *
     * @return t8020, t6000 or t8110
     */
    public DartVariant dartVariant() {
        return dartVariant;
    }

    /**
     * The PTE format of this DART's paging domains (for a locked t8110, see
     * {@link #domainFormat()}).
     *
     * @return the format
     */
    public DartPteFormat format() {
        return format;
    }

    // ---- MMIO ----

    /**
     * Reads a 32-bit register, as the driver's {@code readl}.
     *
     * @param offset byte offset, a multiple of 4 below 0x2000
     * @return the value (unmodelled registers read 0)
     * @throws InvalidArgumentException if the offset is misaligned or outside the register space
     */
    public synchronized int readRegister(int offset) {
        checkOffset(offset);
        return regs.read(offset);
    }

    /**
     * Writes a 32-bit register, as the driver's {@code writel}, with the hardware's side effects:
     * invalidation commands drop IOTLB entries, ERROR and ERROR_STREAMS are write-1-to-clear,
     * stream enable/disable words set or clear bits, the lock bits only ever get set, read-only
     * registers (PARAMS, ERROR_ADDR) ignore writes, and TCR/TTBR writes are ignored while locked.
     *
     * @param offset byte offset, a multiple of 4 below 0x2000
     * @param value the value
     * @throws InvalidArgumentException if the offset is misaligned or outside the register space
     */
    public synchronized void writeRegister(int offset, int value) {
        checkOffset(offset);
        regs.write(offset, value);
    }

    private static void checkOffset(int offset) {
        if (offset < 0 || offset >= DartRegisterFile.SPACE || (offset & 3) != 0) {
            throw new InvalidArgumentException("DART register offset " + Hex.of(offset)
                    + " refused: it must be a multiple of 4 below " + Hex.of(DartRegisterFile.SPACE));
        }
    }

    /**
     * Offset of a stream's TCR.
     *
     * @param sid the stream
     * @return the register offset
     */
    public int tcrOffset(int sid) {
        return layout.tcr().offset(sid);
    }

    /**
     * Offset of one of a stream's TTBRs.
     *
     * @param sid the stream
     * @param index 0..3 on the t8020 layout, 0 on t8110
     * @return the register offset
     */
    public int ttbrOffset(int sid, int index) {
        return layout.ttbr().offset(sid, index);
    }

    /**
     * The TCR value of a stream.
     *
     * @param sid the stream
     * @return the register value
     * @throws InvalidArgumentException if the stream does not exist
     */
    public synchronized int tcr(int sid) {
        checkStream(sid);
        return regs.tcr(sid);
    }

    /**
     * The TTBR values of a stream: four on the t8020 layout, one on t8110.
     *
     * @param sid the stream
     * @return the register values
     * @throws InvalidArgumentException if the stream does not exist
     */
    public synchronized int[] ttbrs(int sid) {
        checkStream(sid);
        int[] out = new int[layout.ttbr().count()];
        for (int i = 0; i < out.length; i++) {
            out[i] = regs.ttbr(sid, i);
        }
        return out;
    }

    /**
     * Encodes a TTBR value pointing at a root table, as the driver writes it.
     *
     * @param tablePa the root table's physical address (16 KiB aligned)
     * @return t8020 layout: {@code 0x8000_0000 | pa >> 12}; t8110: {@code (pa >> 14) << 2 | 1}
     */
    public int encodeTtbr(long tablePa) {
        return layout.ttbr().encode(tablePa);
    }

    /**
     * Decodes a TTBR value.
     *
     * @param ttbr the register value
     * @return the root table's physical address, or -1 if the valid bit is clear
     */
    public long decodeTtbr(int ttbr) {
        return layout.ttbr().decode(ttbr);
    }

    /**
     * The TCR value Linux writes to translate through tables of {@code levels} table levels.
     *
     * @param levels 2, or 3 (t8110 four-level walk)
     * @return 0x80 on the t8020 layout; 0x1 or 0x9 on t8110
     */
    public int tcrTranslate(int levels) {
        return layout.tcr().translating(levels);
    }

    /**
     * The TCR value Linux writes for bypass.
     *
     * @return 0x1100 on the t8020 layout, 0x6 on t8110
     */
    public int tcrBypass() {
        return layout.tcr().bypass();
    }

    /**
     * Whether TTBR and TCR are write-locked (CONFIG bit 15, or t8110 PROTECT bit 0).
     *
     * @return true if locked
     */
    public synchronized boolean isLocked() {
        return regs.locked();
    }

    /** Sets the lock bit, as boot firmware does; it cannot be cleared. */
    synchronized void lock() {
        DartLayout.Lock lock = layout.lock();
        regs.write(lock.register(), regs.read(lock.register()) | lock.bit());
        if (lock.protectLock() >= 0) {
            regs.write(lock.protectLock(), 1);
        }
    }

    /** Writes all-ones into the stream-enable words, as Linux does. */
    synchronized void enableAllStreams() {
        for (int w = 0; w < (streamCount() + 31) / 32; w++) {
            regs.write(layout.streams().enable() + 4 * w, -1);
        }
    }

    // ---- driver operations ----

    /**
     * Resets the DART as Linux's probe does: every stream blocked (TCR 0) with its TTBRs cleared,
     * every stream enabled (isolation by TCR alone), pending errors acknowledged, (t8110) ERROR_MASK
     * cleared, and the IOTLB of every stream invalidated. Devices keep their domain objects but
     * their streams block until attached again.
     *
     * @throws InvalidArgumentException if the DART is locked: its registers belong to the firmware
     */
    public synchronized void reset() {
        if (isLocked()) {
            throw new InvalidArgumentException("reset of DART " + name() + " refused: it is locked (TTBR/TCR were"
                    + " programmed by the firmware and are write-protected); only paging domains can be attached");
        }
        for (int sid = 0; sid < streamCount(); sid++) {
            regs.write(tcrOffset(sid), 0);
            for (int i = 0; i < layout.ttbr().count(); i++) {
                regs.write(ttbrOffset(sid, i), 0);
            }
        }
        enableAllStreams();
        DartLayout.Errors errors = layout.errors();
        regs.write(errors.register(), regs.read(errors.register()));
        if (errors.mask() >= 0) {
            regs.write(errors.mask(), 0);
        }
        flushIotlbAll();
    }

    /**
     * Takes the pending error, as the Linux interrupt handler does: reads ERROR; if FLAG is set,
     * reads ERROR_ADDR, writes the ERROR value back (write-1-to-clear) and, on t8110, all-ones
     * into ERROR_STREAMS.
     *
     * @return the error, or empty if FLAG was clear (not this DART's interrupt)
     */
    public synchronized Optional<DartError> acknowledgeError() {
        DartLayout.Errors errors = layout.errors();
        int error = regs.read(errors.register());
        if ((error & ERROR_FLAG) == 0) {
            return Optional.empty();
        }
        int sid = (error >>> errors.streamShift()) & errors.streamMask();
        int code = error & errors.codeMask();
        long addr = (regs.read(errors.address()) & 0xffff_ffffL) | ((long) regs.read(errors.address() + 4) << 32);
        regs.write(errors.register(), error);
        if (errors.streams() >= 0) {
            for (int w = 0; w < DartLayout.Errors.STREAM_WORDS; w++) {
                regs.write(errors.streams() + 4 * w, -1);
            }
        }
        return Optional.of(new DartError(error, sid, code, addr, DartErrorCode.describe(code, layout)));
    }

    /** Empties the fault log and acknowledges the pending ERROR, as the driver's handler does. */
    @Override
    public void clearFaults() {
        super.clearFaults();
        acknowledgeError();
    }

    @Override
    public IommuDomain createDomain(DomainType type) {
        if (type != DomainType.PAGING && isLocked()) {
            throw new InvalidArgumentException(type.toString().toLowerCase(Locale.ROOT) + " domain on DART "
                    + name() + " refused: it is locked by the firmware, which owns TCR/TTBR; only paging domains"
                    + " (whose root entries are copied into the firmware's table) are accepted");
        }
        return super.createDomain(type);
    }

    @Override
    protected PagingDomain createPagingDomain() {
        return new DartDomain(this, domainFormat());
    }

    /**
     * The format paging domains get: {@link #format()}, except on a locked DART whose layout can
     * walk four levels (t8110), where the depth follows what the firmware put in TCR.FOUR_LEVEL
     * (input size at least 37 bits if any in-use stream walks four levels, else at most 36), as
     * the Asahi driver does.
     *
     * @return the format
     */
    public synchronized DartPteFormat domainFormat() {
        if (layout.tcr().fourLevel() == 0 || !isLocked()) {
            return format;
        }
        boolean four = false;
        for (int sid = 0; sid < streamCount(); sid++) {
            four |= layout.tcr().levels(regs.tcr(sid)) > 2;
        }
        int ias = four ? Math.max(inputBits(), 37) : Math.min(inputBits(), 36);
        return ias == format.inputBits() ? format : format.withInputBits(ias);
    }

    @Override
    protected boolean supportsBypass() {
        return bypass;
    }

    @Override
    protected synchronized void programStream(int streamId, BaseDomain domain) {
        if (isLocked()) {
            lockedTables.sync(streamId, domain instanceof PagingDomain ? (PagingDomain) domain : null);
            return;
        }
        if (domain == null || domain.type() == DomainType.BLOCKED) {
            regs.write(tcrOffset(streamId), 0);
            for (int i = 0; i < layout.ttbr().count(); i++) {
                regs.write(ttbrOffset(streamId, i), 0);
            }
        } else if (domain.type() == DomainType.IDENTITY) {
            regs.write(tcrOffset(streamId), tcrBypass());
        } else {
            PagingDomain paging = (PagingDomain) domain;
            enableAllStreams();
            regs.write(ttbrOffset(streamId, 0), encodeTtbr(paging.table().rootPa()));
            for (int i = 1; i < layout.ttbr().count(); i++) {
                regs.write(ttbrOffset(streamId, i), 0);
            }
            regs.write(tcrOffset(streamId), tcrTranslate(paging.table().format().levels()));
        }
    }

    /**
     * Invalidates the streams' IOTLB entries through the invalidation registers: on the t8020
     * layout one STREAM_SELECT bitmap plus STREAM_COMMAND INVALIDATE, on t8110 one TLB_CMD (flush
     * SID) per stream. On a locked DART the attached domains' root entries are first copied into
     * the firmware's root tables.
     */
    @Override
    protected synchronized void invalidate(int[] streamIds) {
        if (isLocked()) {
            for (int sid : streamIds) {
                lockedTables.sync(sid, attachedPaging(sid));
            }
        }
        layout.invalidation().flush(regs, streamIds);
    }

    /** Invalidates every stream's IOTLB entries with one hardware command. */
    @Override
    public synchronized void flushIotlbAll() {
        if (isLocked()) {
            for (int sid = 0; sid < streamCount(); sid++) {
                PagingDomain d = attachedPaging(sid);
                if (d != null) {
                    lockedTables.sync(sid, d);
                }
            }
        }
        layout.invalidation().flushAll(regs, streamCount());
    }

    private PagingDomain attachedPaging(int sid) {
        IommuDomain d = device(sid).domain().orElse(null);
        return d instanceof PagingDomain ? (PagingDomain) d : null;
    }

    /**
     * The IOVA ranges whose root entries the firmware owns in any stream's root table (locked
     * DARTs), as {start, end} pairs in units of one root entry of {@code rootFormat}.
     */
    synchronized List<long[]> firmwareRanges(DartPteFormat rootFormat) {
        return isLocked() ? lockedTables.firmwareRanges(rootFormat, streamCount()) : new ArrayList<>();
    }

    // ---- hardware side ----

    @Override
    protected PageTableWalker.Result hardwareWalk(int streamId, long iova) {
        int tcr;
        boolean enabled;
        int ttbr;
        synchronized (this) {
            tcr = regs.tcr(streamId);
            enabled = regs.streamEnabled(streamId);
            ttbr = regs.ttbr(streamId, layout.ttbr().select(iova));
        }
        return hardware.walk(tcr, enabled, ttbr, iova);
    }

    /**
     * Names a fault by its DART error code ({@link DartErrorCode}).
     */
    @Override
    protected String faultCode(IommuFault.Reason reason, int level, Access access) {
        return DartErrorCode.of(reason, level, access).name();
    }

    /** Latches the fault into ERROR and ERROR_ADDR unless an error is pending. */
    @Override
    protected synchronized void onFault(IommuFault fault, int level) {
        regs.latchError(fault, DartErrorCode.of(fault.reason(), level, fault.access()));
    }

    // ---- dump ----

    /**
     * The registers of every stream in use (non-zero TCR or TTBR) and every table page reachable
     * from the TTBRs of the streams that translate.
     *
     * @return the dump
     */
    public synchronized DartDump dump() {
        return dumper.dump(dartVariant.id(), streamCount());
    }

    /** Refuses firmware state that does not fit this DART (streams, TTBR count, 32-bit values). */
    void checkFirmware(DartDump dump) {
        dumper.check(dump, dartVariant.id(), this::checkStream);
    }

    /** Programs firmware state: raw TTBR/TCR writes (before any lock). */
    synchronized void programFirmware(DartDump dump) {
        checkFirmware(dump);
        enableAllStreams();
        for (Map.Entry<Integer, List<Long>> e : dump.ttbr().entrySet()) {
            int sid = e.getKey();
            List<Long> values = e.getValue();
            for (int i = 0; i < values.size(); i++) {
                regs.write(ttbrOffset(sid, i), values.get(i).intValue());
            }
        }
        for (Map.Entry<Integer, Long> e : dump.tcr().entrySet()) {
            regs.write(tcrOffset(e.getKey()), e.getValue().intValue());
        }
    }

    @Override
    public String toString() {
        return super.toString() + (isLocked() ? " [locked]" : "");
    }
}

package org.dmashare.dart;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Access;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
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
 * bit 0 is set; leaves carry a sub-page window that the device path enforces. This class does the
 * register part (TTBR choice, blocked or bypass, depth from TCR); the tables are walked by the
 * shared {@link PageTableWalker}, as every backend's are.
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
 * <p>Thread-safe: registers are guarded by this object's monitor.
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

    /** DART walk level of a TTBR (for fault codes). */
    static final int LEVEL_TTBR = -1;

    private static final int REGISTER_SPACE = 0x2000;

    private final DartVariant dartVariant;
    private final DartPteFormat format;
    /**
     * The hardware's view of the tables at each depth TCR can select: every level, the root
     * included, indexes a full 11-bit table whatever ias the driver configured, so these are the
     * format at the full reach of two (36-bit) and three (47-bit) table levels.
     */
    private final DartPteFormat twoLevelWalk;
    private final DartPteFormat threeLevelWalk;
    private final boolean bypass;
    private final int[] regs = new int[REGISTER_SPACE / 4];
    /** Per stream, the firmware root-table indices this driver wrote (locked DARTs only). */
    private final Map<Integer, BitSet> installed = new HashMap<>();

    DartIommu(DartVariant variant, String name, PhysicalMemory memory, int streams, int inputBits, int outputBits,
            boolean bypass, boolean resetAtProbe) {
        super(DartBackend.NAME, variant.spiVariant(), name, memory, streams, inputBits, outputBits);
        this.dartVariant = variant;
        this.format = variant.format(inputBits, outputBits);
        this.twoLevelWalk = format.withInputBits(36);
        this.threeLevelWalk = format.withInputBits(47);
        this.bypass = bypass;
        regs[PARAMS1 / 4] = DartPteFormat.GRANULE_SHIFT << 24;
        regs[PARAMS2 / 4] = bypass ? 1 : 0;
        if (variant.t8110Registers()) {
            regs[T8110_PARAMS3 / 4] = (outputBits << 24) | (inputBits << 16);
            regs[T8110_PARAMS4 / 4] = streams;
        }
        if (resetAtProbe) {
            reset();
        }
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
        return regs[offset / 4];
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
        if (offset == PARAMS1 || offset == PARAMS2) {
            return;
        }
        if (dartVariant.t8110Registers()) {
            writeT8110(offset, value);
        } else {
            writeT8020(offset, value);
        }
    }

    private void writeT8020(int offset, int value) {
        if (offset == T8020_STREAM_COMMAND) {
            if ((value & T8020_STREAM_COMMAND_INVALIDATE) != 0) {
                int select = regs[T8020_STREAM_SELECT / 4];
                if (streamCount() < 32) {
                    select &= (1 << streamCount()) - 1;
                }
                int[] sids = new int[Integer.bitCount(select)];
                for (int i = 0, bits = select; bits != 0; bits &= bits - 1) {
                    sids[i++] = Integer.numberOfTrailingZeros(bits);
                }
                super.invalidate(sids);
            }
            regs[offset / 4] = 0; // done at once: BUSY clear
        } else if (offset == T8020_ERROR) {
            regs[offset / 4] &= ~value;
        } else if (offset == T8020_ERROR_ADDR_LO || offset == T8020_ERROR_ADDR_LO + 4) {
            return;
        } else if (offset == T8020_CONFIG) {
            regs[offset / 4] = value | (regs[offset / 4] & T8020_CONFIG_LOCK);
        } else if (offset >= T8020_TCR && offset < T8020_TTBR + 16 * 16) {
            if (!isLocked()) {
                regs[offset / 4] = value;
            }
        } else {
            regs[offset / 4] = value;
        }
    }

    private void writeT8110(int offset, int value) {
        if (offset == T8110_PARAMS3 || offset == T8110_PARAMS4) {
            return;
        }
        if (offset == T8110_TLB_CMD) {
            int op = (value >>> 8) & 7;
            if (op == T8110_TLB_CMD_OP_FLUSH_ALL) {
                super.flushIotlbAll();
            } else if (op == T8110_TLB_CMD_OP_FLUSH_SID) {
                super.invalidate(new int[] {value & 0xff});
            }
            regs[offset / 4] = value & 0x7fff_ffff; // done at once: BUSY clear
        } else if (offset == T8110_ERROR || (offset >= T8110_ERROR_STREAMS && offset < T8110_ERROR_STREAMS + 32)) {
            regs[offset / 4] &= ~value;
        } else if (offset == T8110_ERROR_ADDR_LO || offset == T8110_ERROR_ADDR_LO + 4) {
            return;
        } else if (offset == T8110_PROTECT) {
            regs[offset / 4] |= value;
        } else if (offset == T8110_UNPROTECT) {
            if (regs[T8110_PROTECT_LOCK / 4] == 0) {
                regs[T8110_PROTECT / 4] &= ~value;
            }
        } else if (offset == T8110_PROTECT_LOCK) {
            regs[offset / 4] |= value;
        } else if (offset >= T8110_ENABLE_STREAMS && offset < T8110_ENABLE_STREAMS + 32) {
            regs[offset / 4] |= value;
        } else if (offset >= T8110_DISABLE_STREAMS && offset < T8110_DISABLE_STREAMS + 32) {
            regs[(offset - T8110_DISABLE_STREAMS + T8110_ENABLE_STREAMS) / 4] &= ~value;
        } else if (offset >= T8110_TCR && offset < T8110_TTBR + 4 * 256) {
            if (!isLocked()) {
                regs[offset / 4] = value;
            }
        } else {
            regs[offset / 4] = value;
        }
    }

    private static void checkOffset(int offset) {
        if (offset < 0 || offset >= REGISTER_SPACE || (offset & 3) != 0) {
            throw new InvalidArgumentException("DART register offset " + Hex.of(offset)
                    + " refused: it must be a multiple of 4 below " + Hex.of(REGISTER_SPACE));
        }
    }

    /**
     * Offset of a stream's TCR.
     *
     * @param sid the stream
     * @return the register offset
     */
    public int tcrOffset(int sid) {
        return (dartVariant.t8110Registers() ? T8110_TCR : T8020_TCR) + 4 * sid;
    }

    /**
     * Offset of one of a stream's TTBRs.
     *
     * @param sid the stream
     * @param index 0..3 on the t8020 layout, 0 on t8110
     * @return the register offset
     */
    public int ttbrOffset(int sid, int index) {
        return dartVariant.t8110Registers() ? T8110_TTBR + 4 * sid : T8020_TTBR + 16 * sid + 4 * index;
    }

    private int errorOffset() {
        return dartVariant.t8110Registers() ? T8110_ERROR : T8020_ERROR;
    }

    private int errorAddrOffset() {
        return dartVariant.t8110Registers() ? T8110_ERROR_ADDR_LO : T8020_ERROR_ADDR_LO;
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
        return regs[tcrOffset(sid) / 4];
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
        int[] out = new int[dartVariant.ttbrsPerStream()];
        for (int i = 0; i < out.length; i++) {
            out[i] = regs[ttbrOffset(sid, i) / 4];
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
        if (dartVariant.t8110Registers()) {
            return (int) (((tablePa >>> 14) << 2) | T8110_TTBR_VALID);
        }
        return (int) (T8020_TTBR_VALID | (tablePa >>> 12));
    }

    /**
     * Decodes a TTBR value.
     *
     * @param ttbr the register value
     * @return the root table's physical address, or -1 if the valid bit is clear
     */
    public long decodeTtbr(int ttbr) {
        if (dartVariant.t8110Registers()) {
            return (ttbr & T8110_TTBR_VALID) == 0 ? -1 : ((ttbr >>> 2) & 0x0fff_ffffL) << 14;
        }
        return (ttbr & T8020_TTBR_VALID) == 0 ? -1 : (ttbr & 0x7fff_ffffL) << 12;
    }

    /**
     * The TCR value Linux writes to translate through tables of {@code levels} table levels.
     *
     * @param levels 2, or 3 (t8110 four-level walk)
     * @return 0x80 on the t8020 layout; 0x1 or 0x9 on t8110
     */
    public int tcrTranslate(int levels) {
        if (dartVariant.t8110Registers()) {
            return T8110_TCR_TRANSLATE_ENABLE | (levels > 2 ? T8110_TCR_FOUR_LEVEL : 0);
        }
        return T8020_TCR_TRANSLATE_ENABLE;
    }

    /**
     * The TCR value Linux writes for bypass.
     *
     * @return 0x1100 on the t8020 layout, 0x6 on t8110
     */
    public int tcrBypass() {
        return dartVariant.t8110Registers() ? T8110_TCR_BYPASS_DART | T8110_TCR_BYPASS_DAPF
                : T8020_TCR_BYPASS_DART | T8020_TCR_BYPASS_DAPF;
    }

    /**
     * Whether TTBR and TCR are write-locked (CONFIG bit 15, or t8110 PROTECT bit 0).
     *
     * @return true if locked
     */
    public synchronized boolean isLocked() {
        return dartVariant.t8110Registers() ? (regs[T8110_PROTECT / 4] & 1) != 0
                : (regs[T8020_CONFIG / 4] & T8020_CONFIG_LOCK) != 0;
    }

    /** Sets the lock bit, as boot firmware does; it cannot be cleared. */
    synchronized void lock() {
        if (dartVariant.t8110Registers()) {
            writeRegister(T8110_PROTECT, 1);
            writeRegister(T8110_PROTECT_LOCK, 1);
        } else {
            writeRegister(T8020_CONFIG, regs[T8020_CONFIG / 4] | T8020_CONFIG_LOCK);
        }
    }

    private boolean streamEnabled(int sid) {
        if (dartVariant.t8110Registers()) {
            return (regs[(T8110_ENABLE_STREAMS + 4 * (sid / 32)) / 4] & (1 << (sid % 32))) != 0;
        }
        return sid < 32 && (regs[T8020_ENABLED_STREAMS / 4] & (1 << sid)) != 0;
    }

    /** Writes all-ones into the stream-enable words, as Linux does. */
    synchronized void enableAllStreams() {
        if (dartVariant.t8110Registers()) {
            for (int w = 0; w < (streamCount() + 31) / 32; w++) {
                writeRegister(T8110_ENABLE_STREAMS + 4 * w, -1);
            }
        } else {
            writeRegister(T8020_ENABLED_STREAMS, -1);
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
            writeRegister(tcrOffset(sid), 0);
            for (int i = 0; i < dartVariant.ttbrsPerStream(); i++) {
                writeRegister(ttbrOffset(sid, i), 0);
            }
        }
        enableAllStreams();
        writeRegister(errorOffset(), regs[errorOffset() / 4]);
        if (dartVariant.t8110Registers()) {
            writeRegister(T8110_ERROR_MASK, 0);
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
        int error = regs[errorOffset() / 4];
        if ((error & ERROR_FLAG) == 0) {
            return Optional.empty();
        }
        boolean t8110 = dartVariant.t8110Registers();
        int sid = t8110 ? (error >>> 20) & 0xff : (error >>> 24) & 0xf;
        int code = error & (t8110 ? 0x7fff : 0xfff);
        long addr = (regs[errorAddrOffset() / 4] & 0xffff_ffffL)
                | ((long) regs[errorAddrOffset() / 4 + 1] << 32);
        writeRegister(errorOffset(), error);
        if (t8110) {
            for (int w = 0; w < 8; w++) {
                writeRegister(T8110_ERROR_STREAMS + 4 * w, -1);
            }
        }
        return Optional.of(new DartError(error, sid, code, addr, DartErrorCode.describe(code, t8110)));
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
            throw new InvalidArgumentException(type.toString().toLowerCase(java.util.Locale.ROOT) + " domain on DART "
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
     * The format paging domains get: {@link #format()}, except on a locked t8110, where the depth
     * follows what the firmware put in TCR.FOUR_LEVEL (input size at least 37 bits if any in-use
     * stream walks four levels, else at most 36), as the Asahi driver does.
     *
     * @return the format
     */
    public synchronized DartPteFormat domainFormat() {
        if (!dartVariant.t8110Registers() || !isLocked()) {
            return format;
        }
        boolean four = false;
        for (int sid = 0; sid < streamCount(); sid++) {
            four |= (regs[tcrOffset(sid) / 4] & T8110_TCR_FOUR_LEVEL) != 0;
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
            syncLocked(streamId, domain instanceof PagingDomain ? (PagingDomain) domain : null);
            return;
        }
        if (domain == null || domain.type() == DomainType.BLOCKED) {
            writeRegister(tcrOffset(streamId), 0);
            for (int i = 0; i < dartVariant.ttbrsPerStream(); i++) {
                writeRegister(ttbrOffset(streamId, i), 0);
            }
        } else if (domain.type() == DomainType.IDENTITY) {
            writeRegister(tcrOffset(streamId), tcrBypass());
        } else {
            PagingDomain paging = (PagingDomain) domain;
            enableAllStreams();
            writeRegister(ttbrOffset(streamId, 0), encodeTtbr(paging.table().rootPa()));
            for (int i = 1; i < dartVariant.ttbrsPerStream(); i++) {
                writeRegister(ttbrOffset(streamId, i), 0);
            }
            writeRegister(tcrOffset(streamId), tcrTranslate(paging.table().format().levels()));
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
                syncLocked(sid, attachedPaging(sid));
            }
        }
        if (dartVariant.t8110Registers()) {
            for (int sid : streamIds) {
                writeRegister(T8110_TLB_CMD, (T8110_TLB_CMD_OP_FLUSH_SID << 8) | sid);
            }
        } else {
            int select = 0;
            for (int sid : streamIds) {
                select |= 1 << sid;
            }
            writeRegister(T8020_STREAM_SELECT, select);
            writeRegister(T8020_STREAM_COMMAND, T8020_STREAM_COMMAND_INVALIDATE);
        }
    }

    /** Invalidates every stream's IOTLB entries with one hardware command. */
    @Override
    public synchronized void flushIotlbAll() {
        if (isLocked()) {
            for (int sid = 0; sid < streamCount(); sid++) {
                PagingDomain d = attachedPaging(sid);
                if (d != null) {
                    syncLocked(sid, d);
                }
            }
        }
        if (dartVariant.t8110Registers()) {
            writeRegister(T8110_TLB_CMD, T8110_TLB_CMD_OP_FLUSH_ALL << 8);
        } else {
            writeRegister(T8020_STREAM_SELECT, streamCount() >= 32 ? -1 : (1 << streamCount()) - 1);
            writeRegister(T8020_STREAM_COMMAND, T8020_STREAM_COMMAND_INVALIDATE);
        }
    }

    private PagingDomain attachedPaging(int sid) {
        IommuDomain d = device(sid).domain().orElse(null);
        return d instanceof PagingDomain ? (PagingDomain) d : null;
    }

    /**
     * Copies {@code domain}'s valid root entries into the firmware's root table of {@code sid}
     * (TTBR0) and clears the entries copied earlier that the domain no longer has. Entries the
     * firmware owns are never written.
     */
    private void syncLocked(int sid, PagingDomain domain) {
        long fwRoot = decodeTtbr(regs[ttbrOffset(sid, 0) / 4]);
        PhysicalMemory mem = memory();
        if (fwRoot < 0 || !mem.contains(fwRoot, DartPteFormat.GRANULE)) {
            return;
        }
        BitSet mine = installed.computeIfAbsent(sid, k -> new BitSet());
        long ourRoot = domain == null || domain.isClosed() ? -1 : domain.table().rootPa();
        int entries = 1 << DartPteFormat.BITS_PER_LEVEL;
        for (int i = 0; i < entries; i++) {
            long ours = ourRoot < 0 ? 0 : mem.readLong(ourRoot + 8L * i);
            long fwPa = fwRoot + 8L * i;
            if (DartPteFormat.isValid(ours)) {
                long fw = mem.readLong(fwPa);
                if (mine.get(i) || !DartPteFormat.isValid(fw)) {
                    if (fw != ours) {
                        mem.writeLong(fwPa, ours);
                    }
                    mine.set(i);
                }
            } else if (mine.get(i)) {
                mem.writeLong(fwPa, 0);
                mine.clear(i);
            }
        }
    }

    /**
     * The IOVA ranges whose root entries the firmware owns in any stream's root table (locked
     * DARTs), as {start, end} pairs in units of one root entry of {@code rootFormat}.
     */
    synchronized List<long[]> firmwareRanges(DartPteFormat rootFormat) {
        List<long[]> out = new ArrayList<>();
        if (!isLocked()) {
            return out;
        }
        long span = 1L << rootFormat.shift(0);
        BitSet owned = new BitSet();
        for (int sid = 0; sid < streamCount(); sid++) {
            long fwRoot = decodeTtbr(regs[ttbrOffset(sid, 0) / 4]);
            if (fwRoot < 0 || !memory().contains(fwRoot, DartPteFormat.GRANULE)) {
                continue;
            }
            BitSet mine = installed.getOrDefault(sid, new BitSet());
            for (int i = 0; i < rootFormat.entries(0); i++) {
                if (DartPteFormat.isValid(memory().readLong(fwRoot + 8L * i)) && !mine.get(i)) {
                    owned.set(i);
                }
            }
        }
        for (int i = owned.nextSetBit(0); i >= 0; i = owned.nextSetBit(owned.nextClearBit(i))) {
            int end = owned.nextClearBit(i);
            out.add(new long[] {i * span, end * span});
        }
        return out;
    }

    // ---- hardware side ----

    @Override
    protected PageTableWalker.Result hardwareWalk(int streamId, long iova) {
        int tcr;
        boolean enabled;
        int ttbr;
        boolean t8110 = dartVariant.t8110Registers();
        int ttbrIndex = t8110 ? 0 : (int) ((iova >>> 36) & 3);
        synchronized (this) {
            tcr = regs[tcrOffset(streamId) / 4];
            enabled = streamEnabled(streamId);
            ttbr = regs[ttbrOffset(streamId, ttbrIndex) / 4];
        }
        boolean translate = (tcr & (t8110 ? T8110_TCR_TRANSLATE_ENABLE : T8020_TCR_TRANSLATE_ENABLE)) != 0;
        boolean bypassing = (tcr & (t8110 ? T8110_TCR_BYPASS_DART : T8020_TCR_BYPASS_DART)) != 0;
        if (!enabled || translate == bypassing) {
            return new PageTableWalker.Result(null, IommuFault.Reason.BLOCKED, LEVEL_TTBR);
        }
        if (bypassing) {
            return new PageTableWalker.Result(new Translation(iova, iova, DartPteFormat.GRANULE,
                    new Prot(true, true, true, false)), null, LEVEL_TTBR);
        }
        int levels = t8110 && (tcr & T8110_TCR_FOUR_LEVEL) != 0 ? 3 : 2;
        int reach = t8110 ? (levels == 3 ? 47 : 36) : 38;
        if (iova < 0 || (iova >>> reach) != 0) {
            return new PageTableWalker.Result(null, IommuFault.Reason.ADDRESS_SIZE, LEVEL_TTBR);
        }
        long table = decodeTtbr(ttbr);
        if (table < 0) {
            return new PageTableWalker.Result(null, IommuFault.Reason.TRANSLATION, LEVEL_TTBR);
        }
        // A t8020-layout TTBR translates the 2^36 slice its IOVA bits 37:36 chose; t8110's one TTBR
        // translates from 0.
        PageTableWalker.Result r = PageTableWalker.walk(memory(), levels == 3 ? threeLevelWalk : twoLevelWalk, table,
                (long) ttbrIndex << 36, iova);
        // The walker counts levels from the root table; DART names them from the leaf table up
        // (L2 whatever the depth, L0 only in four-level walks), and its fault codes use those names.
        return r.level() < 0 ? r : new PageTableWalker.Result(r.translation(), r.reason(), r.level() + 3 - levels);
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
        boolean t8110 = dartVariant.t8110Registers();
        DartErrorCode code = DartErrorCode.of(fault.reason(), level, fault.access());
        int sid = fault.streamId();
        if (t8110) {
            regs[(T8110_ERROR_STREAMS + 4 * (sid / 32)) / 4] |= 1 << (sid % 32);
        }
        if ((regs[errorOffset() / 4] & ERROR_FLAG) != 0) {
            return;
        }
        regs[errorOffset() / 4] = ERROR_FLAG | (sid << (t8110 ? 20 : 24)) | (1 << code.bit(t8110, fault.access()));
        regs[errorAddrOffset() / 4] = (int) fault.iova();
        regs[errorAddrOffset() / 4 + 1] = (int) (fault.iova() >>> 32);
    }

    // ---- dump ----

    /**
     * The registers of every stream in use (non-zero TCR or TTBR) and every table page reachable
     * from the TTBRs of the streams that translate.
     *
     * @return the dump
     */
    public synchronized DartDump dump() {
        Map<Integer, List<Long>> ttbr = new TreeMap<>();
        Map<Integer, Long> tcrs = new TreeMap<>();
        Map<Long, byte[]> pages = new TreeMap<>();
        boolean t8110 = dartVariant.t8110Registers();
        for (int sid = 0; sid < streamCount(); sid++) {
            int tcr = regs[tcrOffset(sid) / 4];
            int[] tt = ttbrs(sid);
            boolean used = tcr != 0;
            List<Long> values = new ArrayList<>();
            for (int v : tt) {
                used |= v != 0;
                values.add(v & 0xffff_ffffL);
            }
            if (!used) {
                continue;
            }
            ttbr.put(sid, values);
            tcrs.put(sid, tcr & 0xffff_ffffL);
            if ((tcr & (t8110 ? T8110_TCR_TRANSLATE_ENABLE : T8020_TCR_TRANSLATE_ENABLE)) == 0) {
                continue;
            }
            int levels = t8110 && (tcr & T8110_TCR_FOUR_LEVEL) != 0 ? 3 : 2;
            for (int v : tt) {
                long root = decodeTtbr(v);
                if (root >= 0) {
                    collect(root, 0, levels, pages);
                }
            }
        }
        return new DartDump(dartVariant.id(), ttbr, tcrs, pages);
    }

    private void collect(long table, int level, int levels, Map<Long, byte[]> pages) {
        if (pages.containsKey(table) || !memory().contains(table, DartPteFormat.GRANULE)) {
            return;
        }
        pages.put(table, memory().read(table, (int) DartPteFormat.GRANULE));
        if (level == levels - 1) {
            return;
        }
        for (int i = 0; i < (1 << DartPteFormat.BITS_PER_LEVEL); i++) {
            long pte = memory().readLong(table + 8L * i);
            if (DartPteFormat.isValid(pte)) {
                collect(format.decodeAddress(pte), level + 1, levels, pages);
            }
        }
    }

    /** Refuses firmware state that does not fit this DART (streams, TTBR count, 32-bit values). */
    void checkFirmware(DartDump dump) {
        for (Map.Entry<Integer, List<Long>> e : dump.ttbr().entrySet()) {
            checkStream(e.getKey());
            List<Long> values = e.getValue();
            if (values.size() != dartVariant.ttbrsPerStream()) {
                throw new InvalidArgumentException("dump lists " + values.size() + " TTBRs for stream " + e.getKey()
                        + "; " + dartVariant.id() + " has " + dartVariant.ttbrsPerStream() + " per stream");
            }
            for (long v : values) {
                checkRegisterValue(v, "TTBR of stream " + e.getKey());
            }
        }
        for (Map.Entry<Integer, Long> e : dump.tcr().entrySet()) {
            checkStream(e.getKey());
            checkRegisterValue(e.getValue(), "TCR of stream " + e.getKey());
        }
    }

    private static void checkRegisterValue(long v, String what) {
        if (v < 0 || v > 0xffff_ffffL) {
            throw new InvalidArgumentException(what + " " + Hex.of(v) + " refused: registers hold 32-bit values");
        }
    }

    /** Programs firmware state: raw TTBR/TCR writes (before any lock). */
    synchronized void programFirmware(DartDump dump) {
        checkFirmware(dump);
        enableAllStreams();
        for (Map.Entry<Integer, List<Long>> e : dump.ttbr().entrySet()) {
            int sid = e.getKey();
            List<Long> values = e.getValue();
            for (int i = 0; i < values.size(); i++) {
                writeRegister(ttbrOffset(sid, i), values.get(i).intValue());
            }
        }
        for (Map.Entry<Integer, Long> e : dump.tcr().entrySet()) {
            writeRegister(tcrOffset(e.getKey()), e.getValue().intValue());
        }
    }

    @Override
    public String toString() {
        return super.toString() + (isLocked() ? " [locked]" : "");
    }
}

package org.dmashare.dart;

import org.dmashare.internal.GuardedBy;
import org.dmashare.iommu.IommuFault;

/**
 * The MMIO register file of one DART: 32-bit words with the hardware's side effects on write,
 * all derived from a {@link DartLayout}. What each register does on a write is decided once, when
 * the file is built, into a table of kinds (plain, read-only, write-1-to-clear, sticky, and so on);
 * a write looks its kind up instead of testing offsets per variant.
 *
 * <p>Not thread-safe: its owner, {@link DartIommu}, calls it only with its own monitor (the unit
 * lock) held.
 */
final class DartRegisterFile {
    /** Bytes of register space modelled. */
    static final int SPACE = 0x2000;

    /** What the hardware does when an invalidation command runs. */
    interface Iotlb {
        /** Drops the IOTLB entries of these streams. */
        void invalidate(int[] streamIds);

        /** Drops every stream's IOTLB entries. */
        void invalidateAll();
    }

    private static final byte PLAIN = 0;
    private static final byte READ_ONLY = 1;
    private static final byte WRITE_ONE_TO_CLEAR = 2;
    private static final byte STICKY = 3;
    private static final byte UNPROTECT = 4;
    private static final byte ENABLE_SET = 5;
    private static final byte DISABLE_CLEAR = 6;
    /** TCR and TTBR: ignored while locked. */
    private static final byte STREAM_CONFIG = 7;

    private static final byte COMMAND = 8;

    private final DartLayout layout;
    private final int streams;
    private final Iotlb iotlb;

    @GuardedBy("DartIommu")
    private final int[] regs = new int[SPACE / 4];

    private final byte[] kinds = new byte[SPACE / 4];

    /**
     * A register file after power-on: PARAMS describe the unit, every other register is 0.
     *
     * @param layout the register layout
     * @param streams streams in use (invalidation ignores higher select bits)
     * @param inputBits IOVA width (PARAMS3 where the layout has it)
     * @param outputBits physical address width (PARAMS3)
     * @param bypass whether PARAMS2 says bypass is supported
     * @param iotlb what invalidation commands act on
     */
    DartRegisterFile(DartLayout layout, int streams, int inputBits, int outputBits, boolean bypass, Iotlb iotlb) {
        this.layout = layout;
        this.streams = streams;
        this.iotlb = iotlb;
        regs[DartIommu.PARAMS1 / 4] = DartPteFormat.GRANULE_SHIFT << 24;
        regs[DartIommu.PARAMS2 / 4] = bypass ? 1 : 0;
        if (layout.params3() >= 0) {
            regs[layout.params3() / 4] = (outputBits << 24) | (inputBits << 16);
        }
        if (layout.params4() >= 0) {
            regs[layout.params4() / 4] = streams;
        }
        DartLayout.Ttbr ttbr = layout.ttbr();
        kind(layout.tcr().offset(0), ttbr.offset(layout.streams().count(), 0), STREAM_CONFIG);
        kind(DartIommu.PARAMS1, DartIommu.PARAMS2 + 4, READ_ONLY);
        for (int params : new int[] {layout.params3(), layout.params4()}) {
            if (params >= 0) {
                kind(params, params + 4, READ_ONLY);
            }
        }
        DartLayout.Errors errors = layout.errors();
        kind(errors.address(), errors.address() + 8, READ_ONLY);
        kind(errors.register(), errors.register() + 4, WRITE_ONE_TO_CLEAR);
        if (errors.streams() >= 0) {
            kind(errors.streams(), errors.streams() + 4 * DartLayout.Errors.STREAM_WORDS, WRITE_ONE_TO_CLEAR);
        }
        DartLayout.Lock lock = layout.lock();
        kind(lock.register(), lock.register() + 4, STICKY);
        if (lock.unprotect() >= 0) {
            kind(lock.unprotect(), lock.unprotect() + 4, UNPROTECT);
        }
        if (lock.protectLock() >= 0) {
            kind(lock.protectLock(), lock.protectLock() + 4, STICKY);
        }
        DartLayout.Streams enables = layout.streams();
        if (enables.disable() >= 0) {
            kind(enables.enable(), enables.enable() + 4 * enables.words(), ENABLE_SET);
            kind(enables.disable(), enables.disable() + 4 * enables.words(), DISABLE_CLEAR);
        }
        kind(layout.invalidation().command(), layout.invalidation().command() + 4, COMMAND);
    }

    private void kind(int from, int to, byte kind) {
        for (int offset = from; offset < to; offset += 4) {
            kinds[offset / 4] = kind;
        }
    }

    /** The layout the file follows. */
    DartLayout layout() {
        return layout;
    }

    /** Reads a register (offset checked by the caller). */
    int read(int offset) {
        return regs[offset / 4];
    }

    /**
     * Writes a register (offset checked by the caller) with the hardware's side effects:
     * invalidation commands run, ERROR and ERROR_STREAMS are write-1-to-clear, stream
     * enable/disable words set or clear bits, lock bits only ever get set, read-only registers
     * ignore writes, and TCR/TTBR writes are ignored while locked.
     */
    void write(int offset, int value) {
        int w = offset / 4;
        switch (kinds[w]) {
            case READ_ONLY:
                return;
            case WRITE_ONE_TO_CLEAR:
                regs[w] &= ~value;
                return;
            case STICKY:
                int sticky = offset == layout.lock().register() ? layout.lock().stickyMask() : -1;
                regs[w] = (value & ~sticky) | ((regs[w] | value) & sticky);
                return;
            case UNPROTECT:
                if (regs[layout.lock().protectLock() / 4] == 0) {
                    regs[layout.lock().register() / 4] &= ~value;
                }
                return;
            case ENABLE_SET:
                regs[w] |= value;
                return;
            case DISABLE_CLEAR:
                regs[(offset - layout.streams().disable() + layout.streams().enable()) / 4] &= ~value;
                return;
            case STREAM_CONFIG:
                if (!locked()) {
                    regs[w] = value;
                }
                return;
            case COMMAND:
                regs[w] = layout.invalidation().execute(this, value, streams, iotlb);
                return;
            default:
                regs[w] = value;
        }
    }

    /** Whether TTBR and TCR are write-locked. */
    boolean locked() {
        return (regs[layout.lock().register() / 4] & layout.lock().bit()) != 0;
    }

    /** Whether a stream's enable bit is set. */
    boolean streamEnabled(int sid) {
        return sid < layout.streams().count() && (regs[layout.streams().enableWord(sid) / 4] & (1 << (sid % 32))) != 0;
    }

    /** A stream's TCR. */
    int tcr(int sid) {
        return regs[layout.tcr().offset(sid) / 4];
    }

    /** TTBR {@code index} of a stream. */
    int ttbr(int sid, int index) {
        return regs[layout.ttbr().offset(sid, index) / 4];
    }

    /**
     * The hardware's side of a fault: marks the stream in ERROR_STREAMS (where the layout has it)
     * and, unless an error is pending, latches FLAG, the stream, the code bit and the IOVA into
     * ERROR and ERROR_ADDR.
     */
    void latchError(IommuFault fault, DartErrorCode code) {
        DartLayout.Errors errors = layout.errors();
        int sid = fault.streamId();
        if (errors.streams() >= 0) {
            regs[(errors.streams() + 4 * (sid / 32)) / 4] |= 1 << (sid % 32);
        }
        if ((regs[errors.register() / 4] & DartIommu.ERROR_FLAG) != 0) {
            return;
        }
        regs[errors.register() / 4] =
                DartIommu.ERROR_FLAG | (sid << errors.streamShift()) | (1 << errors.bit(code, fault.access()));
        regs[errors.address() / 4] = (int) fault.iova();
        regs[errors.address() / 4 + 1] = (int) (fault.iova() >>> 32);
    }
}

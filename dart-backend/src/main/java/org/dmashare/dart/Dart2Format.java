package org.dmashare.dart;

import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Prot;

/**
 * DART2 entries (t6000, t8110): physical address bits 41:14 held in entry bits 37:10 (the
 * address shifted right by 4), NO_READ (bit 3), NO_WRITE (bit 2), NO_CACHE (bit 1, set when the
 * mapping is not {@link Prot#cache() cacheable}) and VALID (bit 0). There is no SP_DIS bit: the
 * sub-page window is always enforced, and whole-page leaves carry 0..0xfff.
 */
public final class Dart2Format extends DartPteFormat {
    /** Entry bits 37:10 holding physical address bits 41:14. */
    public static final long PADDR_MASK = 0x3F_FFFF_FC00L;
    /** The address is stored shifted right by this much. */
    public static final int PADDR_SHIFT = 4;
    /** Bit 3: device reads forbidden. */
    public static final long NO_READ = 1L << 3;
    /** Bit 2: device writes forbidden. */
    public static final long NO_WRITE = 1L << 2;
    /** Bit 1: not cacheable. */
    public static final long NO_CACHE = 1L << 1;

    /**
     * Creates the format.
     *
     * @param inputBits IOVA width, 32..47
     * @param outputBits physical address width, 32..42
     * @throws org.dmashare.InvalidArgumentException if a width is out of range
     */
    public Dart2Format(int inputBits, int outputBits) {
        super(inputBits, checkOutput(outputBits));
    }

    private static int checkOutput(int outputBits) {
        if (outputBits < 32 || outputBits > 42) {
            throw new InvalidArgumentException(
                    "DART2 entries hold physical addresses of at most 42 bits, got " + outputBits);
        }
        return outputBits;
    }

    @Override
    public Dart2Format withInputBits(int inputBits) {
        return new Dart2Format(inputBits, outputBits());
    }

    @Override
    public String name() {
        return "DART2";
    }

    @Override
    public long encodeAddress(long pa) {
        return (pa >>> PADDR_SHIFT) & PADDR_MASK;
    }

    @Override
    public long decodeAddress(long pte) {
        return (pte & PADDR_MASK) << PADDR_SHIFT;
    }

    @Override
    long protBits(Prot prot) {
        long bits = 0;
        if (!prot.read()) {
            bits |= NO_READ;
        }
        if (!prot.write()) {
            bits |= NO_WRITE;
        }
        if (!prot.cache()) {
            bits |= NO_CACHE;
        }
        return bits;
    }

    @Override
    public Prot prot(long pte, int level) {
        return new Prot((pte & NO_READ) == 0, (pte & NO_WRITE) == 0, (pte & NO_CACHE) == 0, false);
    }

    @Override
    public boolean subpageEnforced(long pte) {
        return true;
    }

    @Override
    long enableSubpage(long pte) {
        return pte;
    }
}

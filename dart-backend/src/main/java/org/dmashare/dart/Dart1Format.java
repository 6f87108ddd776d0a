package org.dmashare.dart;

import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Prot;

/**
 * DART1 entries (t8020, M1): the physical address bits 35:12 stored in place, NO_READ (bit 8),
 * NO_WRITE (bit 7), SP_DIS (bit 1, sub-page check off) and VALID (bit 0). Linux sets SP_DIS in
 * every leaf; so does this format unless a sub-page window is requested. There is no cache
 * attribute: {@link Prot#cache()} is ignored and reads back false.
 */
public final class Dart1Format extends DartPteFormat {
    /** Physical address bits held in place: 35:12. */
    public static final long PADDR_MASK = 0xF_FFFF_F000L;
    /** Bit 8: device reads forbidden. */
    public static final long NO_READ = 1L << 8;
    /** Bit 7: device writes forbidden. */
    public static final long NO_WRITE = 1L << 7;
    /** Bit 1: sub-page protection disabled. */
    public static final long SP_DIS = 1L << 1;

    /**
     * Creates the format.
     *
     * @param inputBits IOVA width, 32..47 (t8020 uses 32)
     * @param outputBits physical address width, at most 36
     * @throws org.dmashare.InvalidArgumentException if a width is out of range
     */
    public Dart1Format(int inputBits, int outputBits) {
        super(inputBits, checkOutput(outputBits));
    }

    private static int checkOutput(int outputBits) {
        if (outputBits < 32 || outputBits > 36) {
            throw new InvalidArgumentException(
                    "DART1 entries hold physical addresses of at most 36 bits, got " + outputBits);
        }
        return outputBits;
    }

    @Override
    public Dart1Format withInputBits(int inputBits) {
        return new Dart1Format(inputBits, outputBits());
    }

    @Override
    public String name() {
        return "DART1";
    }

    @Override
    public long encodeAddress(long pa) {
        return pa & PADDR_MASK;
    }

    @Override
    public long decodeAddress(long pte) {
        return pte & PADDR_MASK;
    }

    @Override
    long protBits(Prot prot) {
        long bits = SP_DIS;
        if (!prot.read()) {
            bits |= NO_READ;
        }
        if (!prot.write()) {
            bits |= NO_WRITE;
        }
        return bits;
    }

    @Override
    public Prot prot(long pte, int level) {
        return new Prot((pte & NO_READ) == 0, (pte & NO_WRITE) == 0, false, false);
    }

    @Override
    public boolean subpageEnforced(long pte) {
        return (pte & SP_DIS) == 0;
    }

    @Override
    long enableSubpage(long pte) {
        return pte & ~SP_DIS;
    }
}

package org.dmashare.dart;

import org.dmashare.iommu.Access;

/**
 * One DART register layout as data, in the manner of the Linux driver's per-compatible hardware
 * table: where each register sits, which bits mean what, how the IOTLB is invalidated, how the
 * lock and the stream enables behave, and which ERROR bit each fault code sets. The register file
 * ({@link DartRegisterFile}), the driver ({@link DartIommu}), the walk ({@link DartWalk}) and the
 * dump read this description instead of branching on the variant; a new layout is one more
 * constant here.
 *
 * <p>Two layouts exist: {@link #T8020} (t8020 and t6000, which differ only in their PTE format)
 * and {@link #T8110}. The values are those of {@code reference/apple-dart.md} §4-§6; the public
 * offset constants of {@link DartIommu} name the same numbers for callers.
 *
 * @param name the layout's name, {@code t8020} or {@code t8110}
 * @param params3 offset of PARAMS3 (PA and VA widths), or -1 if the layout has none
 * @param params4 offset of PARAMS4 (number of streams), or -1 if the layout has none
 * @param streams stream slots and the stream-enable registers
 * @param tcr the per-stream translation control registers
 * @param ttbr the per-stream translation table base registers
 * @param invalidation how the IOTLB is invalidated
 * @param errors the error registers and the ERROR bit of each fault code
 * @param lock the register that write-protects TCR and TTBR
 */
record DartLayout(
        String name,
        int params3,
        int params4,
        Streams streams,
        Tcr tcr,
        Ttbr ttbr,
        Invalidation invalidation,
        Errors errors,
        Lock lock) {

    /** t8020 and t6000: four TTBRs per stream, STREAM_SELECT invalidation, CONFIG lock bit. */
    static final DartLayout T8020 = new DartLayout(
            "t8020",
            -1,
            -1,
            new Streams(16, DartIommu.T8020_ENABLED_STREAMS, -1),
            new Tcr(
                    DartIommu.T8020_TCR,
                    DartIommu.T8020_TCR_TRANSLATE_ENABLE,
                    DartIommu.T8020_TCR_BYPASS_DART,
                    DartIommu.T8020_TCR_BYPASS_DAPF,
                    0),
            new Ttbr(DartIommu.T8020_TTBR, 16, 4, DartIommu.T8020_TTBR_VALID, 12, 0, 0x7fff_ffffL),
            Invalidation.STREAM_SELECT,
            new Errors(DartIommu.T8020_ERROR, DartIommu.T8020_ERROR_ADDR_LO, 24, 0xf, 0xfff, -1, -1, new int[] {
                0, -1, 1, 2, 3, 4, 7
            }),
            new Lock(DartIommu.T8020_CONFIG, DartIommu.T8020_CONFIG_LOCK, DartIommu.T8020_CONFIG_LOCK, -1, -1));

    /** t8110: one TTBR per stream, TLB_CMD invalidation, PROTECT lock, set/clear stream enables. */
    static final DartLayout T8110 = new DartLayout(
            "t8110",
            DartIommu.T8110_PARAMS3,
            DartIommu.T8110_PARAMS4,
            new Streams(256, DartIommu.T8110_ENABLE_STREAMS, DartIommu.T8110_DISABLE_STREAMS),
            new Tcr(
                    DartIommu.T8110_TCR,
                    DartIommu.T8110_TCR_TRANSLATE_ENABLE,
                    DartIommu.T8110_TCR_BYPASS_DART,
                    DartIommu.T8110_TCR_BYPASS_DAPF,
                    DartIommu.T8110_TCR_FOUR_LEVEL),
            new Ttbr(DartIommu.T8110_TTBR, 4, 1, DartIommu.T8110_TTBR_VALID, 14, 2, 0x0fff_ffffL),
            Invalidation.TLB_COMMAND,
            new Errors(
                    DartIommu.T8110_ERROR,
                    DartIommu.T8110_ERROR_ADDR_LO,
                    20,
                    0xff,
                    0x7fff,
                    DartIommu.T8110_ERROR_STREAMS,
                    DartIommu.T8110_ERROR_MASK,
                    new int[] {0, 1, 2, 3, 4, 5, -1}),
            new Lock(DartIommu.T8110_PROTECT, 1, -1, DartIommu.T8110_UNPROTECT, DartIommu.T8110_PROTECT_LOCK));

    /**
     * Stream slots and the stream-enable registers.
     *
     * @param count stream slots the register file has (TCR and TTBR per slot)
     * @param enable offset of the first stream-enable word (bit n of word w: stream 32·w + n)
     * @param disable offset of the first stream-disable word, or -1: then the enable words are
     *     plain registers; otherwise writing the enable words only sets bits and writing the
     *     disable words clears the same bits of the enable words
     */
    record Streams(int count, int enable, int disable) {
        /** Number of stream-enable words. */
        int words() {
            return (count + 31) / 32;
        }

        /** Offset of the enable word holding {@code sid}'s bit. */
        int enableWord(int sid) {
            return enable + 4 * (sid / 32);
        }
    }

    /**
     * The translation control register of each stream.
     *
     * @param offset offset of stream 0's TCR (stride 4)
     * @param translate TRANSLATE_ENABLE bit
     * @param bypassDart BYPASS_DART bit
     * @param bypassDapf BYPASS_DAPF bit
     * @param fourLevel FOUR_LEVEL bit (an L0 table above L1), or 0 if the layout walks two levels
     *     only
     */
    record Tcr(int offset, int translate, int bypassDart, int bypassDapf, int fourLevel) {
        /** Offset of a stream's TCR. */
        int offset(int sid) {
            return offset + 4 * sid;
        }

        /** The value Linux writes to translate through {@code levels} table levels. */
        int translating(int levels) {
            return translate | (levels > 2 ? fourLevel : 0);
        }

        /** The value Linux writes for bypass. */
        int bypass() {
            return bypassDart | bypassDapf;
        }

        /** Table levels a TCR value makes the hardware walk: 2, or 3 with FOUR_LEVEL. */
        int levels(int value) {
            return (value & fourLevel) != 0 ? 3 : 2;
        }
    }

    /**
     * The translation table base registers: {@code count} per stream; a value holds the valid
     * bit and the root table's address shifted right by {@code addressShift}, placed at
     * {@code fieldShift}.
     *
     * @param offset offset of stream 0's first TTBR
     * @param streamStride bytes between one stream's TTBRs and the next's
     * @param count TTBRs per stream; with more than one, IOVA bits above the 36 a root table
     *     reaches choose the TTBR
     * @param valid the valid bit
     * @param addressShift how far the table address is shifted right
     * @param fieldShift where the shifted address sits in the register
     * @param fieldMask the shifted address's width, as a mask
     */
    record Ttbr(int offset, int streamStride, int count, int valid, int addressShift, int fieldShift, long fieldMask) {
        /** Offset of TTBR {@code index} of a stream. */
        int offset(int sid, int index) {
            return offset + streamStride * sid + 4 * index;
        }

        /** The value pointing at a root table. */
        int encode(long tablePa) {
            return (int) (((tablePa >>> addressShift) << fieldShift) | valid);
        }

        /** The root table a value points at, or -1 if its valid bit is clear. */
        long decode(int value) {
            return (value & valid) == 0 ? -1 : ((value >>> fieldShift) & fieldMask) << addressShift;
        }

        /** The TTBR an IOVA selects: IOVA bits 37:36 with four TTBRs, else 0. */
        int select(long iova) {
            return (int) ((iova >>> 36) & (count - 1));
        }

        /**
         * IOVA bits the walk accepts: 36 per root table of two levels, 47 with three, plus the
         * TTBR-select bits.
         */
        int reach(int levels) {
            return DartPteFormat.GRANULE_SHIFT
                    + levels * DartPteFormat.BITS_PER_LEVEL
                    + Integer.numberOfTrailingZeros(count);
        }
    }

    /**
     * The error registers.
     *
     * @param register offset of ERROR (FLAG bit 31, stream field, code bits)
     * @param address offset of ERROR_ADDR_LO (ERROR_ADDR_HI follows at +4)
     * @param streamShift position of the stream field in ERROR
     * @param streamMask width of the stream field, as a mask
     * @param codeMask the code bits of ERROR
     * @param streams offset of the first of eight ERROR_STREAMS words (a per-stream error bitmap,
     *     write-1-to-clear), or -1 if the layout has none
     * @param mask offset of ERROR_MASK, which the driver clears at reset, or -1 if none
     * @param codeBits the ERROR bit of each {@link DartErrorCode}, by ordinal; -1 where the layout
     *     has none (the access direction's protection bit is set instead)
     */
    record Errors(
            int register,
            int address,
            int streamShift,
            int streamMask,
            int codeMask,
            int streams,
            int mask,
            int[] codeBits) {
        /** ERROR_STREAMS words, when the layout has them. */
        static final int STREAM_WORDS = 8;

        /** The ERROR bit a fault sets. */
        int bit(DartErrorCode code, Access access) {
            int bit = codeBits[code.ordinal()];
            if (bit >= 0) {
                return bit;
            }
            return codeBits[(access == Access.WRITE ? DartErrorCode.WRITE_FAULT : DartErrorCode.READ_FAULT).ordinal()];
        }

        /** The code whose bit is {@code bit}, or null. */
        DartErrorCode codeOf(int bit) {
            for (DartErrorCode c : DartErrorCode.values()) {
                if (codeBits[c.ordinal()] == bit) {
                    return c;
                }
            }
            return null;
        }
    }

    /**
     * The write protection of TCR and TTBR.
     *
     * @param register offset of the register holding the lock bit
     * @param bit the lock bit
     * @param stickyMask bits of {@code register} a write can set but never clear
     * @param unprotect offset of a register whose written bits clear {@code register}'s bits
     *     until {@code protectLock} is set, or -1 if none
     * @param protectLock offset of a register that, once non-zero, makes the lock permanent, or
     *     -1 if none
     */
    record Lock(int register, int bit, int stickyMask, int unprotect, int protectLock) {}

    /**
     * How the driver invalidates IOTLB entries and how the hardware executes the command; each
     * constant knows its command registers, as each entry of Linux's table points at its own
     * invalidation function.
     */
    enum Invalidation {
        /**
         * t8020: the stream bitmap goes into STREAM_SELECT, then INVALIDATE into STREAM_COMMAND;
         * the command completes at once (the register reads 0, BUSY clear).
         */
        STREAM_SELECT {
            @Override
            int execute(DartRegisterFile regs, int value, int streams, DartRegisterFile.Iotlb iotlb) {
                if ((value & DartIommu.T8020_STREAM_COMMAND_INVALIDATE) != 0) {
                    int select = regs.read(DartIommu.T8020_STREAM_SELECT);
                    if (streams < 32) {
                        select &= (1 << streams) - 1;
                    }
                    int[] sids = new int[Integer.bitCount(select)];
                    for (int i = 0, bits = select; bits != 0; bits &= bits - 1) {
                        sids[i++] = Integer.numberOfTrailingZeros(bits);
                    }
                    iotlb.invalidate(sids);
                }
                return 0;
            }

            @Override
            void flush(DartRegisterFile regs, int[] streamIds) {
                int select = 0;
                for (int sid : streamIds) {
                    select |= 1 << sid;
                }
                regs.write(DartIommu.T8020_STREAM_SELECT, select);
                regs.write(command(), DartIommu.T8020_STREAM_COMMAND_INVALIDATE);
            }

            @Override
            void flushAll(DartRegisterFile regs, int streams) {
                regs.write(DartIommu.T8020_STREAM_SELECT, streams >= 32 ? -1 : (1 << streams) - 1);
                regs.write(command(), DartIommu.T8020_STREAM_COMMAND_INVALIDATE);
            }

            @Override
            int command() {
                return DartIommu.T8020_STREAM_COMMAND;
            }
        },
        /**
         * t8110: one TLB_CMD write per stream (op 1, flush SID, with the stream in bits 7:0), or
         * op 0 to flush every stream; the command completes at once (BUSY, bit 31, reads clear).
         */
        TLB_COMMAND {
            @Override
            int execute(DartRegisterFile regs, int value, int streams, DartRegisterFile.Iotlb iotlb) {
                int op = (value >>> 8) & 7;
                if (op == DartIommu.T8110_TLB_CMD_OP_FLUSH_ALL) {
                    iotlb.invalidateAll();
                } else if (op == DartIommu.T8110_TLB_CMD_OP_FLUSH_SID) {
                    iotlb.invalidate(new int[] {value & 0xff});
                }
                return value & 0x7fff_ffff;
            }

            @Override
            void flush(DartRegisterFile regs, int[] streamIds) {
                for (int sid : streamIds) {
                    regs.write(command(), (DartIommu.T8110_TLB_CMD_OP_FLUSH_SID << 8) | sid);
                }
            }

            @Override
            void flushAll(DartRegisterFile regs, int streams) {
                regs.write(command(), DartIommu.T8110_TLB_CMD_OP_FLUSH_ALL << 8);
            }

            @Override
            int command() {
                return DartIommu.T8110_TLB_CMD;
            }
        };

        /**
         * The hardware side: executes a write of {@code value} into the command register.
         *
         * @return what the command register reads afterwards
         */
        abstract int execute(DartRegisterFile regs, int value, int streams, DartRegisterFile.Iotlb iotlb);

        /** The driver side: writes the registers that invalidate these streams. */
        abstract void flush(DartRegisterFile regs, int[] streamIds);

        /** The driver side: writes the registers that invalidate every stream. */
        abstract void flushAll(DartRegisterFile regs, int streams);

        /** Offset of the command register. */
        abstract int command();
    }
}

package org.dmashare.dart;

import org.dmashare.Hex;

/**
 * One error taken from a DART's ERROR registers by {@link DartIommu#acknowledgeError()}, decoded
 * as the Linux interrupt handler does.
 *
 * @param register the raw ERROR register value (FLAG, stream and code bits)
 * @param streamId the stream field
 * @param code the code bits (11:0 on t8020/t6000, 14:0 on t8110)
 * @param address the 64-bit ERROR_ADDR value (assumed to be the faulting IOVA)
 * @param name the name of the single known code bit set, or {@code unknown}
 */
public record DartError(int register, int streamId, int code, long address, String name) {
    @Override
    public String toString() {
        return "DART error " + name + " (ERROR " + Hex.of(register & 0xffff_ffffL) + ") stream " + streamId + " at "
                + Hex.of(address);
    }
}

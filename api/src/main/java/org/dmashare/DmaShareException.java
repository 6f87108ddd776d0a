package org.dmashare;

/**
 * Base type of every exception dmashare throws on purpose. All are unchecked; each subtype names
 * one cause a caller can act on. Messages state what was asked, what was found and what would be
 * accepted, with addresses in hexadecimal.
 *
 * <p>Unless a method says otherwise, an operation that throws a {@code DmaShareException} has
 * changed nothing: allocators, page tables and IOTLBs are as they were before the call.
 * {@link NullPointerException} is used, as in the JDK, for {@code null} arguments.
 */
public class DmaShareException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what was asked, what was found and what would be accepted
     */
    public DmaShareException(String message) {
        super(message);
    }

    /**
     * Creates the exception with a cause.
     *
     * @param message what was asked, what was found and what would be accepted
     * @param cause the failure that led to this one
     */
    public DmaShareException(String message, Throwable cause) {
        super(message, cause);
    }
}

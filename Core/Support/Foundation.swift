// Functions start once per cold invocation: link the small FoundationEssentials where it exists.
#if canImport(FoundationEssentials)
@_exported import FoundationEssentials
#else
@_exported import Foundation
#endif

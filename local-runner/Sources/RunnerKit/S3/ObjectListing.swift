/// One page of a bucket listing (ListObjects and ListObjectsV2): keys under a prefix, keys
/// sharing the part up to a delimiter rolled into common prefixes, at most `maxKeys` entries
/// (keys and prefixes together), in UTF-8 byte order.
struct ObjectListing {
    var contents: [ObjectMetadata] = []
    var commonPrefixes: [String] = []
    var isTruncated = false
    /// The last key or common prefix on the page: the next page starts after it.
    var last: String?

    /// `sorted` must be in UTF-8 byte order of keys (as `ObjectStore.list` returns them).
    /// `marker` is exclusive; when it is a common prefix returned before, the keys under it
    /// are skipped too.
    static func page(_ sorted: [ObjectMetadata], prefix: String, delimiter: String, after marker: String?, maxKeys: Int) -> ObjectListing {
        var listing = ObjectListing()
        let prefixBytes = Array(prefix.utf8), delimiterBytes = Array(delimiter.utf8)
        let markerBytes = marker.map { Array($0.utf8) }
        var count = 0
        for object in sorted {
            let key = Array(object.key.utf8)
            if let markerBytes, !markerBytes.lexicographicallyPrecedes(key) { continue }
            guard key.starts(with: prefixBytes) else { continue }
            if !delimiterBytes.isEmpty, let end = firstEnd(of: delimiterBytes, in: key, from: prefixBytes.count) {
                let common = String(decoding: key[0..<end], as: UTF8.self)
                if common == listing.commonPrefixes.last || common == marker { continue }
                if count == maxKeys { listing.isTruncated = true; break }
                listing.commonPrefixes.append(common)
                listing.last = common
            } else {
                if count == maxKeys { listing.isTruncated = true; break }
                listing.contents.append(object)
                listing.last = object.key
            }
            count += 1
        }
        return listing
    }

    /// The index just past the first occurrence of `needle` in `haystack` at or after `from`.
    private static func firstEnd(of needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = from
        while index + needle.count <= haystack.count {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index + needle.count }
            index += 1
        }
        return nil
    }
}
